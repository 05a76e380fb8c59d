"""Matching rules, suspected duplicates, merges and aliases, imports, quality snapshots."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from rapport.contacts.models import Contact, Organization
from rapport.core.models import TimeStampedModel
from rapport.data_exchange.choices import (
    AliasKind,
    DetectionTrigger,
    DuplicateStatus,
    Entity,
    ImportPolicy,
    ImportStatus,
    MatchField,
    MatchMethod,
    RowAction,
)


class MatchingRule(TimeStampedModel):
    """One rule of duplicate detection: compare `field` by `method`; it weighs `weight`.

    Evidence combines as 1 − Π(1 − weight·similarity) over the rules that fire; a fuzzy rule
    fires when the similarity reaches `threshold`; a `conflict` (emails, phones) scales the
    score down when both records have the identifier and share none. Administrators tune these; detection,
    the new-contact check and import matching all read them.
    """

    entity = models.CharField(max_length=20, choices=Entity.choices)
    field = models.CharField(max_length=20, choices=MatchField.choices)
    method = models.CharField(max_length=10, choices=MatchMethod.choices)
    weight = models.FloatField()
    threshold = models.FloatField(default=0.0)
    # Evidence against (emails, phones): both have one, none shared → score × (1 − conflict).
    conflict = models.FloatField(default=0.0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["entity", "-weight", "field"]
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "field", "method"], name="uniq_matching_rule"
            ),
        ]

    def __str__(self):
        return f"{self.get_entity_display()}: {self.get_field_display()} ({self.method})"


class MatchingPolicy(TimeStampedModel):
    """Per entity: the score from which a pair is suspected, and from which an import row is
    taken to be an existing record."""

    entity = models.CharField(max_length=20, choices=Entity.choices, unique=True)
    review_threshold = models.FloatField(default=0.75)
    import_match_threshold = models.FloatField(default=0.9)

    def __str__(self):
        return f"{self.get_entity_display()} matching"


class SuspectedDuplicate(models.Model):
    score = models.FloatField()
    reasons = models.JSONField(default=list)
    status = models.CharField(
        max_length=20, choices=DuplicateStatus.choices, default=DuplicateStatus.PENDING
    )
    detected_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def reason_text(self) -> str:
        return ", ".join(self.reasons)


class ContactDuplicate(SuspectedDuplicate):
    """Two contacts that may be one person (lower id first). A dismissed pair stays, so it is
    never suggested again; a merged pair disappears with the merged-away contact."""

    contact_a = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    contact_b = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["-score", "id"]
        constraints = [
            models.UniqueConstraint(fields=["contact_a", "contact_b"], name="uniq_contact_pair"),
            models.CheckConstraint(
                condition=Q(contact_a__lt=F("contact_b")), name="contact_pair_ordered"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-score", "id"]),
            models.Index(fields=["contact_b"]),
        ]

    def __str__(self):
        return f"#{self.contact_a_id} ~ #{self.contact_b_id} ({self.score:.0%})"


class OrganizationDuplicate(SuspectedDuplicate):
    """Two organizations that may be one."""

    organization_a = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    organization_b = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["-score", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization_a", "organization_b"], name="uniq_organization_pair"
            ),
            models.CheckConstraint(
                condition=Q(organization_a__lt=F("organization_b")),
                name="organization_pair_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-score", "id"]),
            models.Index(fields=["organization_b"]),
        ]

    def __str__(self):
        return f"#{self.organization_a_id} ~ #{self.organization_b_id} ({self.score:.0%})"


class MergeRecord(models.Model):
    """One merge: who, when, which values were chosen, what moved, and the loser as it was.

    The snapshot is what is left of a merged-away record; aliases keep its identifiers working.
    """

    entity = models.CharField(max_length=20, choices=Entity.choices)
    survivor_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    survivor_organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    survivor_id_at_merge = models.BigIntegerField()
    loser_id = models.BigIntegerField(db_index=True)
    loser_snapshot = models.JSONField(default=dict)
    chosen = models.JSONField(default=dict)
    moved = models.JSONField(default=dict)
    loser_deleted = models.BooleanField(default=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-merged_at", "-id"]

    def __str__(self):
        return f"{self.entity} #{self.loser_id} → #{self.survivor_id_at_merge}"


class IdentityAlias(models.Model):
    """An identifier a record was once known by (a merged-away contact's email, phone,
    external id or id), so imports and inbound messages still find the surviving record."""

    kind = models.CharField(max_length=20, choices=AliasKind.choices)
    system = models.CharField(max_length=50, blank=True, default="")
    value = models.CharField(max_length=254)
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="aliases"
    )
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="aliases"
    )
    merge = models.ForeignKey(
        MergeRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="aliases"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "system", "value"],
                condition=Q(contact__isnull=False),
                name="uniq_contact_alias",
            ),
            models.UniqueConstraint(
                fields=["kind", "system", "value"],
                condition=Q(organization__isnull=False),
                name="uniq_organization_alias",
            ),
            models.CheckConstraint(
                condition=Q(contact__isnull=False) ^ Q(organization__isnull=False),
                name="alias_has_one_target",
            ),
        ]
        indexes = [models.Index(fields=["kind", "value"])]

    def __str__(self):
        prefix = f"{self.system}:" if self.system else ""
        return f"{self.get_kind_display()} {prefix}{self.value}"


class MappingPreset(TimeStampedModel):
    """A saved column mapping: file header → target field, plus options (external-id system,
    tag separator, phone region). Chosen by name in the UI, API and CLI."""

    entity = models.CharField(max_length=20, default=Entity.CONTACT)
    name = models.CharField(max_length=80)
    mapping = models.JSONField(default=dict)
    options = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["entity", "name"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "name"], name="uniq_mapping_preset")
        ]

    def __str__(self):
        return self.name


class ImportJob(TimeStampedModel):
    """One import of one file: its settings, progress, counts and outcome.

    `processed_rows` is the last data row whose batch committed: a crashed run resumes after
    it, so a row is never half written nor written twice. A dry run stores its report rows
    but writes nothing else.
    """

    entity = models.CharField(max_length=20, default=Entity.CONTACT)
    file = models.FileField(upload_to="imports/%Y/%m/", max_length=300)
    file_name = models.CharField(max_length=255)
    file_size = models.BigIntegerField(default=0)
    file_sha256 = models.CharField(max_length=64, db_index=True)
    file_format = models.CharField(max_length=10, default="csv")
    encoding = models.CharField(max_length=40, blank=True)
    delimiter = models.CharField(max_length=4, blank=True)
    headers = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)
    options = models.JSONField(default=dict, blank=True)
    preset = models.ForeignKey(
        MappingPreset, null=True, blank=True, on_delete=models.SET_NULL, related_name="imports"
    )
    policy = models.CharField(
        max_length=20, choices=ImportPolicy.choices, default=ImportPolicy.SKIP
    )
    is_dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=ImportStatus.choices, default=ImportStatus.NEW)
    batch_size = models.PositiveIntegerField(default=2000)
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    failure = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    undo_report = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_by", "-created_at"])]

    def __str__(self):
        return f"Import #{self.pk} {self.file_name}"

    @property
    def is_finished(self) -> bool:
        return self.status in {ImportStatus.COMPLETED, ImportStatus.FAILED, ImportStatus.UNDONE}

    @property
    def progress_percent(self) -> int | None:
        if not self.total_rows:
            return None
        return min(100, round(100 * self.processed_rows / self.total_rows))


class ImportRow(models.Model):
    """What an import did with one row (or a record the row brought along, such as a new
    organization): the action, the record, the fields before and after, or the errors.

    Undo reads these; the error report is made of them; `fingerprint` (a hash of the row's
    mapped values) lets a re-import of the same row find the record it made.
    """

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rows")
    row_number = models.PositiveIntegerField()
    action = models.CharField(max_length=20, choices=RowAction.choices)
    entity = models.CharField(max_length=20, default=Entity.CONTACT)
    object_id = models.BigIntegerField(null=True, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    fingerprint = models.CharField(max_length=32, blank=True, db_index=True)

    class Meta:
        ordering = ["job", "row_number", "id"]
        indexes = [
            models.Index(fields=["job", "action", "row_number"]),
            models.Index(fields=["entity", "object_id"]),
        ]

    def __str__(self):
        return f"row {self.row_number}: {self.action}"


class QualitySnapshot(models.Model):
    """The data-quality figures of one day, for the trend. Taken daily by a task."""

    taken_on = models.DateField(unique=True)
    figures = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-taken_on"]

    def __str__(self):
        return f"Quality on {self.taken_on}"


class QualitySchedule(models.Model):
    """When the daily data-quality snapshot runs next (one row). A run claims its day with a
    conditional update, so a second chain started by mistake ends instead of measuring twice."""

    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Next quality snapshot at {self.next_run_at}"


class DuplicateScan(models.Model):
    """One run of duplicate detection over every active record of one kind (`detection.run`).

    A finished run without `failure` is what lets the suspected-duplicate figures be computed:
    before the first one, "no pair" means "never looked", not "no duplicates".
    """

    entity = models.CharField(max_length=20, choices=Entity.choices)
    trigger = models.CharField(max_length=10, choices=DetectionTrigger.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    records = models.PositiveIntegerField(default=0)
    suspected = models.PositiveIntegerField(default=0)
    failure = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["entity", "-finished_at"])]

    def __str__(self):
        return f"Duplicate detection of {self.entity} at {self.started_at}"


class DetectionSchedule(models.Model):
    """When the nightly duplicate detection runs next (one row), claimed like QualitySchedule."""

    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Next duplicate detection at {self.next_run_at}"


__all__ = [
    "AliasKind",
    "ContactDuplicate",
    "DetectionSchedule",
    "DuplicateScan",
    "DuplicateStatus",
    "IdentityAlias",
    "ImportJob",
    "ImportPolicy",
    "ImportRow",
    "ImportStatus",
    "MappingPreset",
    "MatchField",
    "MatchMethod",
    "MatchingPolicy",
    "MatchingRule",
    "MergeRecord",
    "OrganizationDuplicate",
    "QualitySchedule",
    "QualitySnapshot",
    "RowAction",
]
