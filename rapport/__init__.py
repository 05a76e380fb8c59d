"""Rapport: an open-source CRM that runs the CRM models as live scorecards."""
