"""The CRM models as running software: KPIs, scorecards, objectives, assessments."""
