"""The timeline: every interaction with a contact or organization, on every channel."""
