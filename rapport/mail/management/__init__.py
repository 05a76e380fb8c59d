"""Management commands of the mail app."""
