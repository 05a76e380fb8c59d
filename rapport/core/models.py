"""Abstract bases shared by every domain model."""

from django.db import models


class TimeStampedModel(models.Model):
    """Knows when it was created and last changed; both set by the database layer."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class IdempotencyRecord(models.Model):
    """The first response to an API create sent with an Idempotency-Key, replayed on retries.

    Keyed by (principal, key) — the principal is a hash of the caller's credentials — so two
    callers cannot read each other's results by guessing a key.
    """

    principal = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["principal", "key"], name="uniq_idempotency_principal_key"
            )
        ]
