"""Contacts and organizations: who the business knows, and the 360° page shell."""
