"""What automation keeps: webhook subscriptions and the outbox of their deliveries.

A `WebhookDelivery` row is written in the same transaction as the change it reports
(`webhooks.record_deliveries`), so a committed change always has its deliveries and a rolled
back one never has any. The row is the record of what is due: the queue may lose a task, the
sweep finds the row again.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class WebhookSubscriptionQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class WebhookSubscription(models.Model):
    """A receiver's URL and the events it wants, signed with its own Standard Webhooks secret.

    The secret ("whsec_…") is stored encrypted (rapport.mail.secrets) and shown once, when it is
    made; afterwards only `secret_hint` (its last 4 characters) is shown.
    """

    name = models.CharField(max_length=120)
    url = models.CharField(max_length=2000)
    event_types = models.JSONField(default=list, blank=True)
    secret_encrypted = models.TextField()
    secret_hint = models.CharField(max_length=4)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_subscriptions",
        help_text="Told when the subscription is switched off after failing.",
    )
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Deliveries that went dead in a row (reset by any success).
    failure_streak = models.PositiveIntegerField(default=0)
    # When the current run of failed attempts began (None after a success).
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WebhookSubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "webhook subscription"

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("automation:webhook_detail", args=[self.pk])


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed, will be retried"
    DEAD = "dead", "Given up"


# Rows a worker may claim (when due and not leased).
SENDABLE = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)


class WebhookDelivery(models.Model):
    """One event for one subscription, and what became of sending it.

    `event_id` is the `webhook-id` header: unique per event and subscription and the same on
    every retry and replay, so a receiver that saw it already can drop the repeat (delivery is
    at least once). A worker claims a row by setting `lease_until`/`lease_token` with one
    conditional UPDATE; a row whose worker died is claimable again when the lease runs out.
    """

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event_type = models.CharField(max_length=60)
    payload = models.JSONField()
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    replayed_at = models.DateTimeField(null=True, blank=True)
    replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="automation_due_idx"),
            models.Index(fields=["subscription", "-created_at"], name="automation_sub_recent_idx"),
        ]

    def __str__(self):
        return f"{self.event_type} → {self.subscription_id} ({self.get_status_display()})"
