from django.db import models


class InteractionKind(models.TextChoices):
    NOTE = "note", "Note"
    CALL = "call", "Call"
    MEETING = "meeting", "Meeting"
    EMAIL = "email", "Email"
    CHAT = "chat", "Chat"
    SOCIAL = "social", "Social message"
    SMS = "sms", "SMS"
    FORM = "form_submission", "Form submission"
    OTHER = "other", "Other"


class Channel(models.TextChoices):
    PHONE = "phone", "Phone"
    EMAIL = "email", "Email"
    IN_PERSON = "in_person", "In person"
    VIDEO = "video", "Video"
    WEB = "web", "Web"
    CHAT = "chat", "Chat"
    SOCIAL = "social", "Social"
    SMS = "sms", "SMS"
    INTERNAL = "internal", "Internal"


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"
    INTERNAL = "internal", "Internal"


# The outcomes a person picks when logging a call or meeting.
OUTCOMES = {
    "call": ["connected", "left_voicemail", "no_answer", "busy", "wrong_number"],
    "meeting": ["completed", "rescheduled", "no_show", "cancelled"],
}

DEFAULT_CHANNEL = {
    InteractionKind.NOTE: Channel.INTERNAL,
    InteractionKind.CALL: Channel.PHONE,
    InteractionKind.MEETING: Channel.IN_PERSON,
    InteractionKind.EMAIL: Channel.EMAIL,
    InteractionKind.CHAT: Channel.CHAT,
    InteractionKind.SOCIAL: Channel.SOCIAL,
    InteractionKind.SMS: Channel.SMS,
    InteractionKind.FORM: Channel.WEB,
    InteractionKind.OTHER: Channel.INTERNAL,
}
