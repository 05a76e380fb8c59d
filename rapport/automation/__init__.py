"""Automation: what Rapport does on its own when something changes (today: signed webhooks out)."""
