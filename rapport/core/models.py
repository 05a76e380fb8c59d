"""Abstract bases shared by every domain model."""

from django.conf import settings
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


class BulkOperation(models.Model):
    """One bulk action over many records, as the person who started it asked for it.

    Holds who acted, on which kind of record (`entity`, a key of `core.bulk`'s registry), which
    action with which parameters, the ids chosen (`member_ids`, fixed when the operation starts,
    so "all N that match" means the N matched then), and how far the work got: `done` of
    `total`, with `changed`, `skipped` and `failed` and the reasons counted in `reasons`.
    What happened to each record, and what undoing it needs, is a `BulkOperationItem`.

    `request_id` is stamped on every ChangeRecord the services write while the operation runs,
    so the audit trail of one operation is one query (`ChangeRecord.request_id`).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        UNDOING = "undoing", "Undoing"
        UNDONE = "undone", "Undone"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)
    entity = models.CharField(max_length=40)
    action = models.CharField(max_length=60)
    action_label = models.CharField(max_length=200, blank=True)
    params = models.JSONField(default=dict, blank=True)
    # How the members were chosen: {"ids": n} or {"list": key, "params": {...}} (the filter).
    selection = models.JSONField(default=dict, blank=True)
    member_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    reasons = models.JSONField(default=dict, blank=True)  # {"skipped: not yours": 3, ...}
    undone = models.PositiveIntegerField(default=0)
    undo_failed = models.PositiveIntegerField(default=0)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    task_id = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.action_label or self.action} on {self.total} {self.entity}"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED, self.Status.UNDONE}

    @property
    def percent(self) -> int:
        if not self.total:
            return 100
        if self.status in {self.Status.UNDOING, self.Status.UNDONE}:
            return min(100, round(100 * (self.undone + self.undo_failed) / max(self.changed, 1)))
        return min(100, round(100 * self.done / self.total))


class BulkOperationItem(models.Model):
    """What a bulk operation did to one record: changed (with what undoing it needs), skipped
    or failed (with the reason). At most one per record and operation, which is what makes a
    re-run of an interrupted operation pick up where it stopped."""

    class Outcome(models.TextChoices):
        CHANGED = "changed", "Changed"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    operation = models.ForeignKey(BulkOperation, on_delete=models.CASCADE, related_name="items")
    object_id = models.BigIntegerField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.CharField(max_length=300, blank=True)
    undo = models.JSONField(null=True, blank=True)
    is_undone = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["operation", "object_id"], name="uniq_bulk_item_operation_object"
            )
        ]
