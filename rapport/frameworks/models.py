"""What the CRM models store: KPI values per day, target overrides, objectives, maturity
assessments and the business's choice of model. The models themselves are code
(`rapport.frameworks.catalog`); rows here refer to them by key."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

from rapport.core.models import TimeStampedModel
from rapport.frameworks.choices import (
    AssessmentStatus,
    ObjectiveStatus,
    RunStatus,
    SnapshotSource,
    TargetKind,
    Track,
)


class KpiSnapshot(models.Model):
    """One KPI's value on one day, for everyone, a population or a segment.

    `value` is null when the KPI could not be measured that day; `reason` then says why. One
    row per (kpi, population, segment, day): measuring the same day again replaces it. Written
    by `rapport.frameworks.snapshots` only.
    """

    kpi = models.CharField(max_length=60)
    population = models.CharField(max_length=20, blank=True, default="")
    segment = models.ForeignKey(
        "analytics.Segment",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="kpi_snapshots",
    )
    day = models.DateField()
    value = models.FloatField(null=True, blank=True)
    numerator = models.FloatField(null=True, blank=True)
    denominator = models.FloatField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    source = models.CharField(max_length=10, choices=SnapshotSource.choices)
    seconds = models.FloatField(default=0.0)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kpi", "population", "day"]
        constraints = [
            models.UniqueConstraint(
                fields=["kpi", "population", "day"],
                condition=Q(segment__isnull=True),
                name="uniq_kpi_snapshot_day",
            ),
            models.UniqueConstraint(
                fields=["kpi", "population", "segment", "day"],
                condition=Q(segment__isnull=False),
                name="uniq_kpi_snapshot_segment_day",
            ),
        ]
        indexes = [models.Index(fields=["kpi", "population", "segment", "-day"])]

    def __str__(self):
        return f"{self.kpi} on {self.day}"


class SnapshotRun(models.Model):
    """One measurement of the whole catalogue (daily, backfill or on demand): when, how long,
    how many KPIs had a value, which failed, and the IDIC journey funnel of that day."""

    day = models.DateField()
    source = models.CharField(max_length=10, choices=SnapshotSource.choices)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0.0)
    measured = models.PositiveIntegerField(default=0)
    not_measurable = models.PositiveIntegerField(default=0)
    failed = models.JSONField(default=dict, blank=True)
    funnel = models.JSONField(default=list, blank=True)
    # A backfill's series that past days could not measure: {series label: why, on the newest
    # such day}, so a scorecard can say why a trend has a single point.
    gaps = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["status", "-day"])]

    def __str__(self):
        return f"KPI snapshot of {self.day} ({self.get_status_display()})"


class StageTarget(TimeStampedModel):
    """A manager's target for one KPI on one stage of one model, replacing the catalogue's.

    `target` null means "no target": the KPI is shown for information only.
    """

    model_key = models.CharField(max_length=30)
    stage_key = models.CharField(max_length=40)
    kpi = models.CharField(max_length=60)
    target = models.FloatField(null=True, blank=True)
    tolerance = models.FloatField(
        default=0.15, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_key", "stage_key", "kpi"], name="uniq_stage_target"
            )
        ]

    def __str__(self):
        return f"{self.model_key}/{self.stage_key}/{self.kpi}: {self.target}"


class Objective(TimeStampedModel):
    """A goal on one KPI (optionally for a segment) by a deadline, owned by someone.

    The baseline is measured when the objective is set; `target` is always the absolute value
    to reach (computed from `target_kind` and `target_input`). The daily check updates
    `track`, `last_value` and `status`, and notifies the owner when it falls off track.
    """

    model_key = models.CharField(max_length=30)
    stage_key = models.CharField(max_length=40)
    kpi = models.CharField(max_length=60)
    population = models.CharField(max_length=20, blank=True, default="")
    segment = models.ForeignKey(
        "analytics.Segment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="objectives",
    )
    title = models.CharField(max_length=200)
    note = models.TextField(blank=True)
    baseline = models.FloatField()
    baseline_day = models.DateField()
    target_kind = models.CharField(max_length=10, choices=TargetKind.choices)
    target_input = models.FloatField()
    target = models.FloatField()
    deadline = models.DateField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="crm_objectives"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=ObjectiveStatus.choices, default=ObjectiveStatus.ACTIVE
    )
    track = models.CharField(max_length=10, choices=Track.choices, default=Track.NO_DATA)
    last_value = models.FloatField(null=True, blank=True)
    projected = models.FloatField(null=True, blank=True)
    checked_on = models.DateField(null=True, blank=True)
    alerted_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["deadline", "id"]
        indexes = [models.Index(fields=["model_key", "status"])]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("frameworks:objective_detail", args=[self.pk])

    @property
    def measure(self):
        """The KPI this objective follows (from the catalogue)."""
        from rapport.frameworks.kpis import KPIS

        return KPIS.get(self.kpi)


class Assessment(TimeStampedModel):
    """A maturity questionnaire on one model, answered by several people, then completed.

    Only completed assessments count on the scorecard and in the history.
    """

    model_key = models.CharField(max_length=30)
    title = models.CharField(max_length=200)
    status = models.CharField(
        max_length=10, choices=AssessmentStatus.choices, default=AssessmentStatus.OPEN
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["model_key", "status", "-completed_at"])]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("frameworks:assessment_detail", args=[self.pk])


class AssessmentResponse(models.Model):
    """One respondent's score (1–5 on the maturity scale) for one question of an assessment."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="responses")
    respondent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    stage_key = models.CharField(max_length=40)
    question_key = models.CharField(max_length=40)
    score = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.CharField(max_length=500, blank=True)
    answered_at = models.DateTimeField()

    class Meta:
        ordering = ["assessment", "stage_key", "question_key", "respondent"]
        constraints = [
            models.UniqueConstraint(
                fields=["assessment", "respondent", "stage_key", "question_key"],
                name="uniq_assessment_answer",
            ),
            models.CheckConstraint(
                condition=Q(score__gte=1) & Q(score__lte=5), name="assessment_score_1_to_5"
            ),
        ]

    def __str__(self):
        return f"{self.stage_key}.{self.question_key}: {self.score}"


class ModelChoice(models.Model):
    """The CRM model the business works by (the newest row is the current choice), with the
    answers, data and recommendation it was chosen on."""

    model_key = models.CharField(max_length=30)
    chosen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    chosen_at = models.DateTimeField(auto_now_add=True)
    answers = models.JSONField(default=dict, blank=True)
    facts = models.JSONField(default=dict, blank=True)
    recommended_key = models.CharField(max_length=30, blank=True)
    scores = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-chosen_at", "-id"]

    def __str__(self):
        return f"{self.model_key} (chosen {self.chosen_at:%Y-%m-%d})"


class SnapshotSchedule(models.Model):
    """When the daily snapshot runs next (one row). The task claims a run with a conditional
    update, so two task chains started by mistake still measure once a day."""

    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Next KPI snapshot at {self.next_run_at}"
