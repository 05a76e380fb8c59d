"""Interaction: one entry on a timeline."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from rapport.accounts.access import scope_q
from rapport.accounts.choices import Domain
from rapport.core import display
from rapport.core.models import TimeStampedModel
from rapport.interactions.choices import Channel, Direction, InteractionKind


class InteractionQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Visible when the contact or the organization it is about is visible."""
        return self.filter(
            (Q(contact__isnull=False) & scope_q(user, Domain.CONTACTS, "contact__owner"))
            | (
                Q(organization__isnull=False)
                & scope_q(user, Domain.CONTACTS, "organization__owner")
            )
        )

    def for_contact(self, contact):
        return self.filter(contact=contact)


class Interaction(TimeStampedModel):
    """A note, call, meeting, email or message with a contact and/or organization.

    `external_id` makes inbound deliveries idempotent: the same message twice is one entry.
    """

    kind = models.CharField(max_length=20, choices=InteractionKind.choices)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    direction = models.CharField(
        max_length=10, choices=Direction.choices, default=Direction.OUTBOUND
    )
    occurred_at = models.DateTimeField(db_index=True)
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="interactions",
    )
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    outcome = models.CharField(max_length=30, blank=True)
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="interactions",
    )
    organization = models.ForeignKey(
        "contacts.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="interactions",
    )
    external_id = models.CharField(max_length=200, null=True, blank=True, unique=True)

    objects = InteractionQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "-occurred_at"]),
            models.Index(fields=["organization", "-occurred_at"]),
            models.Index(fields=["channel", "occurred_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(contact__isnull=False) | Q(organization__isnull=False),
                name="interaction_has_subject",
            )
        ]

    def __str__(self):
        # Also the audit history's name for the record, which people read.
        label = self.subject or display.day_text(self.occurred_at, "dated")
        return f"{self.get_kind_display()}: {label}"
