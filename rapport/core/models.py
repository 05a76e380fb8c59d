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
    callers cannot read each other's results by guessing a key. A record lives a day
    (`idempotency.RETENTION`), then is ignored and pruned: the response it keeps may hold
    personal data. While its request runs it is a lock until `locked_until`; a retry after that
    takes the key over instead of waiting on a worker that died.
    """

    principal = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["principal", "key"], name="uniq_idempotency_principal_key"
            )
        ]


class WorkerHeartbeat(models.Model):
    """A running `rapport worker` on the database queue, seen every few seconds.

    A job left RUNNING by a worker whose heartbeat went stale (or whose process is gone, on this
    host) was abandoned: `durability.reclaim_database()` puts it back in the queue.
    """

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.IntegerField()
    started_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField()


class TaskOutbox(models.Model):
    """A task queued on Redis, written in the same transaction as the enqueue.

    The database, not Redis, is the record of what is due: a row not done and whose job Redis
    no longer holds (Redis wiped or restarted without persistence) is queued again by the worker
    (`durability.replay_outbox()`). Marked done when the job succeeds or fails.
    """

    id = models.CharField(max_length=64, primary_key=True)  # the RQ job id
    task_path = models.TextField()
    arguments = models.JSONField()  # {"args": [...], "kwargs": {...}}
    queue_name = models.CharField(max_length=32, default="default")
    priority = models.IntegerField(default=0)
    run_after = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, blank=True)  # SUCCESSFUL, FAILED or ABANDONED
    attempts = models.PositiveIntegerField(default=0)  # times queued again after a loss

    class Meta:
        indexes = [
            models.Index(
                fields=["enqueued_at"],
                name="core_outbox_pending_idx",
                condition=models.Q(done_at__isnull=True),
            ),
            models.Index(fields=["done_at"], name="core_outbox_done_idx"),
        ]
