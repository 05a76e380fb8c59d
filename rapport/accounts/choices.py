from django.db import models


class Scope(models.TextChoices):
    """How far a role reaches within one domain."""

    OWN = "own", "Own records"
    TEAM = "team", "Own team's records"
    ALL = "all", "All records"


class Domain(models.TextChoices):
    CONTACTS = "contacts", "Contacts & organizations"
    SALES = "sales", "Sales"
    SERVICE = "service", "Service"
    MARKETING = "marketing", "Marketing"
    ANALYTICS = "analytics", "Analytics"


class TeamKind(models.TextChoices):
    SALES = "sales", "Sales"
    MARKETING = "marketing", "Marketing"
    SERVICE = "service", "Service"
    MANAGEMENT = "management", "Management"
    OTHER = "other", "Other"
