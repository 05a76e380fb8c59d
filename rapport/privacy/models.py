"""What the privacy app keeps: which contacts were erased, and how long old records live."""

from django.conf import settings
from django.db import models


class Erasure(models.Model):
    """The mark of an erased contact: the tombstone row it points at holds no personal data.

    Who erased and why stay here (the reason is scrubbed of the person's identifiers before it
    is stored), so the tombstone is told apart from an ordinary archived contact.
    """

    contact = models.OneToOneField(
        "contacts.Contact", on_delete=models.CASCADE, related_name="erasure"
    )
    erased_at = models.DateTimeField(db_index=True)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=300)
    # How many rows of each kind were deleted or redacted, for the administrator.
    counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-erased_at", "-id"]

    def __str__(self):
        return f"Erasure of contact #{self.contact_id}"


class RetentionSettings(models.Model):
    """The one row (pk=1) of retention settings: how many months interactions and audit
    records are kept. Empty keeps them forever. The daily retention job reads it."""

    interaction_months = models.PositiveIntegerField(null=True, blank=True)
    audit_months = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "retention settings"

    def __str__(self):
        return "Retention settings"


class RetentionSchedule(models.Model):
    """When the daily retention job runs next (one row), claimed like the other daily chains."""

    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Next retention run at {self.next_run_at}"
