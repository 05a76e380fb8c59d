"""Lead capture, scoring and assignment. Leads are contacts; these tables only describe them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from rapport.contacts.choices import ContactSource, LifecycleStage
from rapport.core.models import TimeStampedModel
from rapport.sales.choices import (
    AssignmentMethod,
    DecayAnchor,
    ModelStatus,
    RecordKind,
    ScoreBasis,
)


class WebForm(TimeStampedModel):
    """A lead-capture form built in Rapport and embedded on any website.

    `fields` is a list of {"target", "label", "required"}; targets are contact fields
    ("email", "company", "custom_fields.region", …) checked by the services. Submissions arrive
    at a public endpoint named by `public_id`, so the database id never leaks.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True)
    fields = models.JSONField(default=list)
    # Hidden values recorded on every lead the form brings in.
    source = models.CharField(
        max_length=20, choices=ContactSource.choices, default=ContactSource.WEB_FORM
    )
    source_detail = models.CharField(max_length=150, blank=True)
    campaign = models.CharField(max_length=100, blank=True)
    lifecycle_stage = models.CharField(
        max_length=30, choices=LifecycleStage.choices, default=LifecycleStage.LEAD
    )
    submit_label = models.CharField(max_length=40, default="Send")
    thank_you_message = models.CharField(max_length=500, default="Thank you — we will be in touch.")
    redirect_url = models.URLField(max_length=500, blank=True)
    consent_enabled = models.BooleanField(default=True)
    consent_text = models.CharField(
        max_length=300, default="I agree to be contacted by email about this request."
    )
    # Origins (scheme://host[:port]) allowed to post from a browser; empty allows any.
    allowed_origins = models.TextField(blank=True)
    max_submissions_per_minute = models.PositiveIntegerField(default=60)
    submission_count = models.PositiveIntegerField(default=0)
    spam_count = models.PositiveIntegerField(default=0)
    last_submission_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("sales:webform_detail", args=[self.pk])

    @property
    def origin_list(self) -> list[str]:
        return [line.strip().rstrip("/") for line in self.allowed_origins.split() if line.strip()]


class WebFormSubmission(models.Model):
    """One accepted submission; the contact it created or updated carries it on its timeline.

    The public endpoint stores it and answers; matching it to a contact and putting it on the
    timeline happens in a task, which sets `processed_at` (until then `contact` is empty and
    `data["pending"]` keeps the cleaned values the task needs).
    """

    form = models.ForeignKey(WebForm, on_delete=models.CASCADE, related_name="submissions")
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        on_delete=models.SET_NULL,
        related_name="form_submissions",
    )
    interaction = models.ForeignKey(
        "interactions.Interaction", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    is_new_contact = models.BooleanField(default=False)
    data = models.JSONField(default=dict)
    campaign = models.CharField(max_length=100, blank=True)
    # A keyed hash: enough to spot a flood from one address without keeping the address.
    client_hash = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    referrer = models.CharField(max_length=500, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["form", "-created_at"]),
            # Small: only submissions whose task has not run yet, for the sweep that re-queues them.
            models.Index(
                fields=["created_at"],
                condition=Q(processed_at__isnull=True),
                name="sales_submission_pending",
            ),
        ]

    def __str__(self):
        return f"{self.form_id} @ {self.created_at:%Y-%m-%d %H:%M}"


class WebFormRateCounter(models.Model):
    """Submissions in the current one-minute window for one key: a client address (as a keyed
    hash) or a form. The public endpoint counts and checks both in one upsert statement."""

    key = models.CharField(max_length=80, primary_key=True)
    minute = models.BigIntegerField()  # minutes since the epoch: the window counted
    count = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.key}: {self.count} in minute {self.minute}"


class ProductInterest(models.Model):
    """A product a lead asked about (free text: the catalogue belongs to commerce)."""

    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="product_interests"
    )
    product = models.CharField(max_length=100)
    source = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["product"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "product"], name="uniq_product_interest")
        ]

    def __str__(self):
        return self.product


class ScoringRule(TimeStampedModel):
    """Points for leads matching a condition, fading with a half-life from an anchor moment.

    A rule with `half_life_days` = 14 and anchor "last form submission" gives full points on
    the day of the submission, half two weeks later, a quarter after four weeks.
    """

    name = models.CharField(max_length=100)
    condition = models.JSONField(default=dict)
    points = models.IntegerField()
    half_life_days = models.PositiveIntegerField(null=True, blank=True)
    decay_anchor = models.CharField(
        max_length=30, choices=DecayAnchor.choices, default=DecayAnchor.NONE
    )
    position = models.PositiveIntegerField(default=100)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.name


class LeadScoringModel(TimeStampedModel):
    """One training run of the learned lead score, with its quality on held-out leads.

    `parameters` holds everything prediction needs as plain numbers (standardization, the
    calibrated ensemble, the category vocabularies), so a model is read back without pickle.
    Only the newest ready model with `is_active` scores leads; a run with too little history is
    kept too, with its `message`, so the model page can say why the rules carry the score.
    """

    status = models.CharField(max_length=20, choices=ModelStatus.choices)
    is_active = models.BooleanField(default=False)
    algorithm = models.CharField(max_length=100, blank=True)
    message = models.CharField(max_length=500, blank=True)
    window_days = models.PositiveIntegerField()
    n_labelled = models.PositiveIntegerField(default=0)
    n_positive = models.PositiveIntegerField(default=0)
    n_negative = models.PositiveIntegerField(default=0)
    n_train = models.PositiveIntegerField(default=0)
    n_test = models.PositiveIntegerField(default=0)
    roc_auc = models.FloatField(null=True, blank=True)
    brier_score = models.FloatField(null=True, blank=True)
    base_rate = models.FloatField(null=True, blank=True)
    calibration = models.JSONField(default=list, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    trigger = models.CharField(max_length=20, default="schedule")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"Lead model #{self.pk} ({self.get_status_display()})"


class LeadScore(models.Model):
    """A lead's current scores: rule points and the model's calibrated probability, side by side.

    `score` is what lists sort by: the probability in percent when a ready model exists, the
    rule points otherwise (`basis` says which). `reasons` lists the rules that fired and the
    model's strongest signed feature contributions.
    """

    contact = models.OneToOneField(
        "contacts.Contact", on_delete=models.CASCADE, primary_key=True, related_name="lead_score"
    )
    score = models.IntegerField(db_index=True)
    basis = models.CharField(max_length=10, choices=ScoreBasis.choices)
    rule_points = models.FloatField(default=0)
    model_probability = models.FloatField(null=True, blank=True)
    model = models.ForeignKey(
        LeadScoringModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reasons = models.JSONField(default=dict)
    computed_at = models.DateTimeField()

    def __str__(self):
        return f"{self.contact_id}: {self.score}"


class LeadScoreHistory(models.Model):
    """A lead's score each time it changed."""

    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="lead_score_history"
    )
    score = models.IntegerField()
    basis = models.CharField(max_length=10, choices=ScoreBasis.choices)
    rule_points = models.FloatField(default=0)
    model_probability = models.FloatField(null=True, blank=True)
    model = models.ForeignKey(
        LeadScoringModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["-computed_at", "-id"]
        indexes = [models.Index(fields=["contact", "-computed_at"])]

    def __str__(self):
        return f"{self.contact_id}: {self.score} @ {self.computed_at:%Y-%m-%d}"


class AssignmentRule(TimeStampedModel):
    """If a new record of `kind` matches `condition`, it goes to `target_user` or round robin
    in `target_team`.

    A rule tests the fields of its kind (a lead's facts, an organization's, a deal's). Rules of
    a kind are tried in `position` order; the first that can place the record wins.
    """

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=RecordKind.choices, default=RecordKind.LEAD)
    condition = models.JSONField(default=dict)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    target_team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    position = models.PositiveIntegerField(default=100)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(target_user__isnull=False) & Q(target_team__isnull=True))
                | (Q(target_user__isnull=True) & Q(target_team__isnull=False)),
                name="assignment_rule_one_target",
            )
        ]

    def __str__(self):
        return self.name


class RoundRobinState(models.Model):
    """Whose turn it is in a team: the member who got the team's last lead."""

    team = models.OneToOneField("accounts.Team", on_delete=models.CASCADE, related_name="+")
    last_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)


class LeadAssignment(models.Model):
    """Who a lead was given to, by which rule and why: shown on the lead."""

    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="lead_assignments"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    previous_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rule = models.ForeignKey(
        AssignmentRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rule_name = models.CharField(max_length=100, blank=True)
    method = models.CharField(max_length=20, choices=AssignmentMethod.choices)
    reason = models.TextField()
    assigned_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-assigned_at", "-id"]
        indexes = [models.Index(fields=["contact", "-assigned_at"])]

    def __str__(self):
        return f"{self.contact_id} → {self.owner_id} ({self.method})"


class SalesSettings(models.Model):
    """The one row of sales-wide settings (pk=1): fallback owner and the scoring schedule."""

    fallback_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversion_window_days = models.PositiveIntegerField(default=90)
    min_labelled_leads = models.PositiveIntegerField(default=200)
    min_per_class = models.PositiveIntegerField(default=20)
    rescore_every_minutes = models.PositiveIntegerField(default=60)
    retrain_every_days = models.PositiveIntegerField(default=7)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "sales settings"

    def __str__(self):
        return "Sales settings"
