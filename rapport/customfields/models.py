"""CustomFieldDefinition: a typed field an administrator adds without a migration."""

from django.core.validators import RegexValidator
from django.db import models

from rapport.core.models import TimeStampedModel
from rapport.customfields.choices import Entity, FieldType

key_validator = RegexValidator(
    r"^[a-z][a-z0-9_]{0,49}$",
    "Use lowercase letters, digits and underscores, starting with a letter (at most 50).",
)


class CustomFieldDefinition(TimeStampedModel):
    """One custom field of one entity. Values are validated against it wherever they arrive."""

    entity = models.CharField(max_length=20, choices=Entity.choices)
    key = models.CharField(max_length=50, validators=[key_validator])
    label = models.CharField(max_length=100)
    field_type = models.CharField(max_length=20, choices=FieldType.choices)
    help_text = models.CharField(max_length=300, blank=True)
    is_required = models.BooleanField(default=False)
    is_unique = models.BooleanField(default=False)
    default = models.JSONField(null=True, blank=True)
    choices = models.JSONField(default=list, blank=True)  # ["Gold", "Silver"] for (multi) choice
    max_length = models.PositiveIntegerField(null=True, blank=True)
    min_value = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    max_value = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    position = models.PositiveIntegerField(default=100)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["entity", "position", "label"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "key"], name="uniq_customfield_entity_key")
        ]

    def __str__(self):
        return f"{self.get_entity_display()}: {self.label}"
