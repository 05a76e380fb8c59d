"""Privacy: erasing a person (GDPR), the subject-access export, and retention of old records."""
