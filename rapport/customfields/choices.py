from django.db import models


class FieldType(models.TextChoices):
    TEXT = "text", "Text"
    LONG_TEXT = "long_text", "Long text"
    NUMBER = "number", "Whole number"
    DECIMAL = "decimal", "Decimal / money"
    DATE = "date", "Date"
    BOOLEAN = "boolean", "Yes / no"
    CHOICE = "choice", "Choice"
    MULTI_CHOICE = "multi_choice", "Multiple choice"
    URL = "url", "URL"
    EMAIL = "email", "Email"


class Entity(models.TextChoices):
    CONTACT = "contact", "Contact"
    ORGANIZATION = "organization", "Organization"
    DEAL = "deal", "Deal"
