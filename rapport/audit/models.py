"""ChangeRecord: one row per write made through a service."""

from django.conf import settings
from django.db import models


class ChangeAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    ARCHIVE = "archive", "Archived"
    RESTORE = "restore", "Restored"
    DELETE = "delete", "Deleted"
    MERGE = "merge", "Merged"


class ChangeRecord(models.Model):
    """An append-only record of one change: actor, time, request/task id, before and after.

    `entity` is the model label ("contacts.contact") and `object_id` its primary key, so the
    record survives the object's deletion and needs no content-type join to list.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    request_id = models.CharField(max_length=64, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=20, blank=True)
    action = models.CharField(max_length=20, choices=ChangeAction.choices)
    entity = models.CharField(max_length=60)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    message = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["entity", "object_id", "-occurred_at"]),
            # Request and task ids are how an administrator traces one click or one job.
            models.Index(fields=["request_id"], name="audit_request_idx"),
            models.Index(fields=["task_id"], name="audit_task_idx"),
        ]

    def __str__(self):
        return f"{self.get_action_display()} {self.entity}#{self.object_id}"

    @property
    def changed_fields(self) -> list[str]:
        keys = set(self.before) | set(self.after)
        return sorted(k for k in keys if self.before.get(k) != self.after.get(k))
