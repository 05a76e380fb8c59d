"""What the analytics refresh stores: current value per customer, dated snapshots, model fits,
the runs that made them, and the segments people build on top."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from rapport.accounts.access import scope_q
from rapport.accounts.choices import Domain
from rapport.analytics.choices import (
    FitModel,
    FitStatus,
    RunStatus,
    RunTrigger,
    SegmentKind,
    TierBasis,
)
from rapport.core.models import TimeStampedModel


class AnalyticsConfiguration(TimeStampedModel):
    """The knobs of the refresh, one row for the whole CRM (edited by administrators).

    Changing them takes effect at the next refresh; stored analytics keep the settings they
    were computed with (copied onto their RefreshRun).
    """

    rfm_window_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(7), MaxValueValidator(36500)],
        help_text="Score RFM on orders of the last N days; empty for the whole history.",
    )
    expected_purchases_days = models.PositiveSmallIntegerField(
        default=90, validators=[MinValueValidator(1), MaxValueValidator(3650)]
    )
    clv_horizon_months = models.PositiveSmallIntegerField(
        default=12, validators=[MinValueValidator(1), MaxValueValidator(120)]
    )
    monthly_discount_rate = models.FloatField(
        default=0.01, validators=[MinValueValidator(0.0), MaxValueValidator(0.5)]
    )
    platinum_share = models.FloatField(
        default=0.01, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    gold_share = models.FloatField(
        default=0.05, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    silver_share = models.FloatField(
        default=0.20, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    p_alive_threshold = models.FloatField(
        default=0.5, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    overdue_factor = models.FloatField(
        default=3.0, validators=[MinValueValidator(1.0), MaxValueValidator(100.0)]
    )
    holdout_days = models.PositiveSmallIntegerField(
        default=182,
        validators=[MinValueValidator(28), MaxValueValidator(730)],
        help_text="Length of the holdout period of the model check (at most a third of the history is used).",
    )
    keep_daily_snapshots_days = models.PositiveSmallIntegerField(
        default=35,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="Older snapshots are thinned to one per month.",
    )
    nightly_hour = models.PositiveSmallIntegerField(
        default=2, validators=[MaxValueValidator(23)], help_text="Hour of the nightly refresh."
    )
    # Parameters known from elsewhere (the demo's generating process, an earlier study) that
    # the model page shows beside the fit: {"label": str, "bg_nbd": {...}, "gamma_gamma": {...}}.
    reference_parameters = models.JSONField(default=dict, blank=True)

    def __str__(self):
        return "Analytics configuration"

    @classmethod
    def current(cls) -> "AnalyticsConfiguration":
        configuration, _ = cls.objects.get_or_create(pk=1)
        return configuration

    def as_dict(self) -> dict:
        return {
            "rfm_window_days": self.rfm_window_days,
            "expected_purchases_days": self.expected_purchases_days,
            "clv_horizon_months": self.clv_horizon_months,
            "monthly_discount_rate": self.monthly_discount_rate,
            "platinum_share": self.platinum_share,
            "gold_share": self.gold_share,
            "silver_share": self.silver_share,
            "p_alive_threshold": self.p_alive_threshold,
            "overdue_factor": self.overdue_factor,
            "holdout_days": self.holdout_days,
        }


class RefreshRun(TimeStampedModel):
    """One computation of every customer's analytics, with its progress and outcome.

    `portfolio` keeps the whole-book figures the charts draw (RFM grid, Pareto curve, CLV
    distribution, tiers, cohorts), so the charts need not re-read every order. `settings`
    holds the configuration the run used; `timings` the seconds per stage.
    """

    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=20, choices=RunTrigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    task_id = models.CharField(max_length=64, blank=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    as_of = models.DateField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=40, blank=True)
    message = models.TextField(blank=True)
    currency = models.CharField(max_length=3, blank=True)
    n_customers = models.PositiveIntegerField(default=0)
    n_orders = models.PositiveBigIntegerField(default=0)
    excluded = models.JSONField(default=dict, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    tier_basis = models.CharField(max_length=10, choices=TierBasis.choices, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    portfolio = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "-finished_at"])]

    def __str__(self):
        return f"Refresh #{self.pk} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in (RunStatus.QUEUED, RunStatus.RUNNING)

    @property
    def has_results(self) -> bool:
        return self.status == RunStatus.SUCCEEDED

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class ModelFit(models.Model):
    """One model fitted (or not) in a run: parameters, log-likelihood and diagnostics.

    When the data cannot support the model, `status` says so and `reason` says why; the
    parameters are then empty rather than invented.
    """

    run = models.ForeignKey(RefreshRun, on_delete=models.CASCADE, related_name="fits")
    model = models.CharField(max_length=20, choices=FitModel.choices)
    status = models.CharField(max_length=20, choices=FitStatus.choices)
    reason = models.TextField(blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    log_likelihood = models.FloatField(null=True, blank=True)
    n_customers = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)
    diagnostics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "model"]
        constraints = [
            models.UniqueConstraint(fields=["run", "model"], name="uniq_model_fit_per_run")
        ]

    def __str__(self):
        return f"{self.get_model_display()} · {self.get_status_display()}"

    @property
    def is_usable(self) -> bool:
        return self.status == FitStatus.FITTED


class CustomerAnalyticsQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(scope_q(user, Domain.CONTACTS, "contact__owner"))

    def active(self):
        return self.filter(contact__is_archived=False)

    def at_risk(self):
        return self.filter(is_at_risk=True)


class CustomerAnalytics(models.Model):
    """A contact's current customer value, as of the last successful refresh.

    One row per contact with at least one revenue order in the business currency. Written in
    bulk by the refresh only (never edited); model-based fields are null when the run could
    not fit the model, with the reason on the run's ModelFit.

    The foreign keys carry no database constraint: the refresh writes a million rows in one
    statement that joins the contacts table (so it only ever stores existing contacts), and a
    per-row constraint trigger would double its cost. Deleting a contact still deletes its row
    (Django cascades), and the next refresh replaces every row anyway.
    """

    contact = models.OneToOneField(
        "contacts.Contact",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="analytics",
        db_constraint=False,
    )
    run = models.ForeignKey(
        RefreshRun,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    computed_on = models.DateField()
    first_order_date = models.DateField()
    last_order_date = models.DateField()
    cohort_month = models.DateField()
    orders_count = models.PositiveIntegerField()
    # Money figures here are derived estimates rounded to cents, kept as floats: a float index
    # costs half a numeric one to rebuild (measured on the nightly million-row write), and the
    # exact amounts stay on the orders.
    revenue_total = models.FloatField()
    average_order_value = models.FloatField()
    recency_days = models.PositiveIntegerField()
    repeat_purchases = models.PositiveIntegerField()
    r_score = models.PositiveSmallIntegerField()
    f_score = models.PositiveSmallIntegerField()
    m_score = models.PositiveSmallIntegerField()
    fm_score = models.PositiveSmallIntegerField()
    segment = models.CharField(max_length=30)
    p_alive = models.FloatField(null=True, blank=True)
    expected_purchases = models.FloatField(null=True, blank=True)
    predicted_clv = models.FloatField(null=True, blank=True, db_index=True)
    value_tier = models.CharField(max_length=10)
    is_at_risk = models.BooleanField(default=False)
    churn_reason = models.PositiveSmallIntegerField(default=0)
    overdue_ratio = models.FloatField(null=True, blank=True)

    objects = CustomerAnalyticsQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "customer analytics"
        # Few indexes, all numeric: every index is rebuilt for a million rows each night
        # (each one measured at about a tenth of the whole write), and text keys also cost a
        # collation compare. Segment, tier and risk filters walk the CLV index instead, which
        # gives the lists their default order anyway; the RFM grid's cell links get their own.
        indexes = [models.Index(fields=["r_score", "fm_score"])]

    def __str__(self):
        return f"Analytics of contact #{self.contact_id}"

    @property
    def churn_reason_text(self) -> str:
        from rapport.analytics.metrics.churn import describe_reasons

        return str(describe_reasons([self.churn_reason])[0])


class AnalyticsSnapshot(models.Model):
    """A contact's customer value on one day: the history behind trends and tier migration.

    One row per contact per refresh day (a second refresh the same day replaces it). Rows
    older than the configured window are thinned to one per month by the refresh.
    """

    # No database constraints and no extra indexes, for the same reason as CustomerAnalytics:
    # the (contact, snapshot_date) unique index already serves every lookup by contact.
    contact = models.ForeignKey(
        "contacts.Contact",
        on_delete=models.CASCADE,
        related_name="analytics_snapshots",
        db_constraint=False,
        db_index=False,
    )
    snapshot_date = models.DateField()
    run = models.ForeignKey(
        RefreshRun,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    orders_count = models.PositiveIntegerField()
    revenue_total = models.FloatField()
    r_score = models.PositiveSmallIntegerField()
    f_score = models.PositiveSmallIntegerField()
    m_score = models.PositiveSmallIntegerField()
    segment = models.CharField(max_length=30)
    p_alive = models.FloatField(null=True, blank=True)
    expected_purchases = models.FloatField(null=True, blank=True)
    predicted_clv = models.FloatField(null=True, blank=True)
    value_tier = models.CharField(max_length=10)
    is_at_risk = models.BooleanField(default=False)

    class Meta:
        ordering = ["contact", "-snapshot_date"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "snapshot_date"], name="uniq_snapshot_contact_date"
            )
        ]
        indexes = [models.Index(fields=["snapshot_date"])]

    def __str__(self):
        return f"Contact #{self.contact_id} on {self.snapshot_date}"


class SegmentQuerySet(models.QuerySet):
    def visible_to(self, user):
        # Segment definitions are shared; who is *in* a segment is always scoped by the viewer.
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        return self

    def dynamic(self):
        return self.filter(kind=SegmentKind.DYNAMIC)

    def static(self):
        return self.filter(kind=SegmentKind.STATIC)


class Segment(TimeStampedModel):
    """A named group of contacts: dynamic (saved conditions, evaluated in the database each
    time) or static (a list of members kept in SegmentMember).

    Later features (campaigns, offers, automation) take a Segment and call
    `rapport.analytics.segments.members(segment, user)`.
    """

    name = models.CharField(max_length=120)
    description = models.CharField(max_length=500, blank=True)
    kind = models.CharField(max_length=10, choices=SegmentKind.choices, default=SegmentKind.DYNAMIC)
    conditions = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_archived = models.BooleanField(default=False)
    # When who is in this dynamic segment was last compared with `WatchedMember` (for the
    # "entered/left a segment" triggers); null until something first watches it.
    members_checked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = SegmentQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=Q(is_archived=False), name="uniq_active_segment_name"
            )
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("analytics:segment_detail", args=[self.pk])


class SegmentMember(models.Model):
    """A contact on a static list."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="segment_memberships"
    )
    added_at = models.DateTimeField(auto_now_add=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "contact"], name="uniq_segment_member")
        ]

    def __str__(self):
        return f"{self.contact_id} in {self.segment_id}"


class WatchedMember(models.Model):
    """Who was in a watched dynamic segment at its last check: the next check's difference is
    who entered and who left. A dynamic segment has no stored members otherwise (its
    conditions are evaluated each time); static lists keep theirs in SegmentMember."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="watched_members")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")
    # Empty for those already in it when it was first watched: they did not enter it then.
    entered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "contact"], name="uniq_watched_member")
        ]

    def __str__(self):
        return f"{self.contact_id} in {self.segment_id} since {self.entered_at:%Y-%m-%d}"
