"""The framework under every app: base models, events, conditions, panels, API plumbing."""
