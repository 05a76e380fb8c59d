"""Sales: pipelines, deals, leads capture, scoring, assignment and tasks."""
