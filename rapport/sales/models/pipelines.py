"""Pipelines, their stages, deals and the dated history of every stage change."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from rapport.contacts.choices import ContactSource
from rapport.core.models import TimeStampedModel
from rapport.sales.choices import DealStatus, StageKind
from rapport.sales.querysets import DealQuerySet, PipelineQuerySet


class Pipeline(TimeStampedModel):
    """A sales process: an ordered list of stages ending in exactly one won and one lost stage.

    The services keep that shape (they refuse to remove the last won or lost stage), so every
    deal can always be closed either way.
    """

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    currency = models.CharField(max_length=3, default="EUR", help_text="ISO 4217, e.g. EUR")
    position = models.PositiveIntegerField(default=100)
    is_default = models.BooleanField(default=False)
    is_archived = models.BooleanField(default=False)

    objects = PipelineQuerySet.as_manager()

    class Meta:
        ordering = ["position", "name", "id"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("sales:board", args=[self.pk])


class Stage(TimeStampedModel):
    """One column of a pipeline. `probability` (0–100 %) weighs open deals in the forecast.

    Won stages count 100 %, lost stages 0 %, whatever was typed. `stall_days` (optional) says
    when a deal sitting here counts as stalled; without it the stage's median time decides.
    """

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=80)
    position = models.PositiveIntegerField(default=100)
    kind = models.CharField(max_length=10, choices=StageKind.choices, default=StageKind.OPEN)
    probability = models.PositiveSmallIntegerField(default=10)
    stall_days = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["pipeline", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "name"], name="uniq_stage_name"),
            models.CheckConstraint(condition=Q(probability__lte=100), name="stage_probability_pct"),
        ]

    def __str__(self):
        return self.name

    @property
    def weight(self) -> int:
        if self.kind == StageKind.WON:
            return 100
        if self.kind == StageKind.LOST:
            return 0
        return self.probability


class LostReason(TimeStampedModel):
    """Why deals are lost; asked when a deal moves to a lost stage."""

    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveIntegerField(default=100)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self):
        return self.name


class Deal(TimeStampedModel):
    """A sale being worked: an amount in one currency, moving through one pipeline's stages.

    `status`, `closed_at` and `stage_entered_at` follow the stage and are kept by the services;
    every move leaves a DealStageChange, which is what velocity, conversion and the bottleneck
    are computed from.
    """

    name = models.CharField(max_length=200)
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="deals")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="deals")
    status = models.CharField(max_length=10, choices=DealStatus.choices, default=DealStatus.OPEN)
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="EUR")
    expected_close_date = models.DateField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_deals",
    )
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    organization = models.ForeignKey(
        "contacts.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deals",
    )
    # Names of the products asked about (from the lead); what is sold is in `lines`.
    products = models.JSONField(default=list, blank=True)
    source = models.CharField(
        max_length=20, choices=ContactSource.choices, default=ContactSource.MANUAL
    )
    source_detail = models.CharField(max_length=200, blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    tags = models.ManyToManyField("contacts.Tag", blank=True, related_name="deals")
    description = models.TextField(blank=True)
    stage_entered_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    lost_reason = models.ForeignKey(
        LostReason, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    lost_note = models.CharField(max_length=300, blank=True)
    is_archived = models.BooleanField(default=False)

    objects = DealQuerySet.as_manager()

    class Meta:
        ordering = ["expected_close_date", "id"]
        indexes = [
            # The board: one pipeline's cards per stage in close-date order.
            models.Index(
                fields=["pipeline", "is_archived", "stage", "expected_close_date", "id"],
                name="deal_board_idx",
            ),
            models.Index(fields=["owner", "status"], name="deal_owner_status_idx"),
            models.Index(fields=["pipeline", "status", "expected_close_date"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="deal_amount_not_negative")
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("sales:deal_detail", args=[self.pk])

    @property
    def weighted_amount(self):
        return self.amount * self.stage.weight / 100


class DealStageChange(models.Model):
    """One dated move of a deal into a stage; the first row (no `from_stage`) is its creation.

    Time in a stage is the gap to the deal's next change. An undone move is deleted (the audit
    record keeps it), so a slip of the mouse does not distort the pipeline analytics.
    """

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="stage_changes")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+")
    from_stage = models.ForeignKey(
        Stage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="+")
    changed_at = models.DateTimeField(db_index=True)
    # When the row was written (changed_at may be back-dated); the undo window runs from here.
    recorded_at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Given when the move went into a lost stage; undoing a later move restores it.
    lost_reason = models.ForeignKey(
        LostReason, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lost_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["changed_at", "id"]
        indexes = [models.Index(fields=["pipeline", "deal", "changed_at"])]

    def __str__(self):
        return f"{self.deal_id}: {self.from_stage_id} → {self.to_stage_id}"


class DealLine(models.Model):
    """One product of the catalogue on a deal: quantity × unit price, less a discount.

    The unit price starts as the product's list price and may be changed; `discount` is a
    percentage taken off it, and the price sold at (`net_unit_price`) is rounded to the cent
    before it is multiplied, so a won deal's order lines add up to the same total. While a deal
    has lines its amount is their total (the services keep it so).
    """

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="lines")
    # By name, not by import: sales must not import commerce (docs/architecture.md).
    product = models.ForeignKey(
        "commerce.Product", on_delete=models.PROTECT, related_name="deal_lines"
    )
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    discount = models.DecimalField("discount %", max_digits=5, decimal_places=2, default=0)
    line_total = models.DecimalField(max_digits=14, decimal_places=2)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["deal", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="deal_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="deal_line_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(discount__gte=0) & Q(discount__lte=100),
                name="deal_line_discount_pct",
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.product}"

    @property
    def net_unit_price(self):
        return net_unit_price(self.unit_price, self.discount)


def net_unit_price(unit_price, discount):
    """The unit price less `discount` percent, to the cent (half up, as invoices round)."""
    net = unit_price * (Decimal(100) - discount) / Decimal(100)
    return net.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
