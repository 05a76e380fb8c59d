"""Sequences: multi-step email cadences with task steps, scheduled on the contact's business days."""
