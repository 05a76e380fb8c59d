"""Email both ways: mailboxes, the outbox and its worker, IMAP sync onto the timeline, templates,
tracking and consent.
"""
