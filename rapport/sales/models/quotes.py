"""Quotes: a deal's lines issued as a numbered, versioned offer the customer accepts or declines."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from rapport.core.models import TimeStampedModel
from rapport.sales.models.pipelines import net_unit_price
from rapport.sales.querysets import QuoteQuerySet


class QuoteStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SENT = "sent", "Sent"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    SUPERSEDED = "superseded", "Superseded"
    EXPIRED = "expired", "Expired"


# A quote the customer may still accept: a new version replaces it.
OPEN_STATUSES = (QuoteStatus.DRAFT, QuoteStatus.SENT)


class QuoteSettings(models.Model):
    """The one row (pk=1) of what every quote says about the company that issues it.

    Copied into each quote when it is created, so a later change of name or terms does not
    rewrite what a customer was sent.
    """

    company_name = models.CharField(max_length=200, blank=True)
    company_details = models.TextField(
        blank=True, help_text="Address, tax number, bank details: printed under the name."
    )
    default_terms = models.TextField(blank=True)
    validity_days = models.PositiveSmallIntegerField(default=30)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "quote settings"
        verbose_name_plural = "quote settings"

    def __str__(self):
        return "Quote settings"


class QuoteNumberCounter(models.Model):
    """The last quote number given out in a year. Numbers are taken with one conditional UPDATE
    of this row, which PostgreSQL locks per row and SQLite per database, so two quotes created
    at once never get the same number."""

    year = models.PositiveSmallIntegerField(unique=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.year}: {self.last}"


class Quote(TimeStampedModel):
    """One version of a quote: `number` is shared by a quote's versions, `version` counts them.

    Everything printed is copied in when the version is created (lines, customer, company,
    terms, totals), so editing the deal, its products or the settings afterwards changes no
    quote; nothing edits a version once created, a change is a new version. At most one
    version of a deal is open (draft or sent): creating another supersedes it.
    """

    deal = models.ForeignKey("sales.Deal", on_delete=models.CASCADE, related_name="quotes")
    number = models.CharField(max_length=20)
    version = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=12, choices=QuoteStatus.choices, default=QuoteStatus.DRAFT)
    title = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)
    issued_on = models.DateField()
    valid_until = models.DateField()
    subtotal = models.DecimalField(max_digits=14, decimal_places=2)
    discount_total = models.DecimalField(max_digits=14, decimal_places=2)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    organization = models.ForeignKey(
        "contacts.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    customer_name = models.CharField(max_length=200, blank=True)
    organization_name = models.CharField(max_length=200, blank=True)
    company_name = models.CharField(max_length=200, blank=True)
    company_details = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    terms = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_to = models.CharField(max_length=500, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decline_reason = models.CharField(max_length=500, blank=True)

    objects = QuoteQuerySet.as_manager()

    class Meta:
        ordering = ["deal", "-created_at", "-id"]
        # The daily job looks for open quotes past their date.
        indexes = [models.Index(fields=["status", "valid_until"], name="quote_status_valid_idx")]
        constraints = [
            models.UniqueConstraint(fields=["number", "version"], name="uniq_quote_version"),
            models.UniqueConstraint(
                fields=["deal"],
                condition=Q(status__in=["draft", "sent"]),
                name="one_open_quote_per_deal",
            ),
            models.CheckConstraint(condition=Q(total__gte=0), name="quote_total_not_negative"),
        ]

    def __str__(self):
        return f"{self.number} v{self.version}"

    def get_absolute_url(self):
        return reverse("sales:quote_detail", args=[self.pk])

    @property
    def label(self) -> str:
        return f"{self.number} (version {self.version})"

    @property
    def filename(self) -> str:
        return f"{self.number}-v{self.version}.pdf"

    def is_expired_on(self, day: dt.date) -> bool:
        return self.status in OPEN_STATUSES and self.valid_until < day

    def current_status(self, today: dt.date) -> str:
        """The status as of `today`: an open quote past its last valid day is expired even
        before the daily job has written so."""
        return QuoteStatus.EXPIRED if self.is_expired_on(today) else self.status


class QuoteLine(models.Model):
    """One line of a quote, copied from the deal's line (or given) when the quote was made."""

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    # Where it came from; the printed facts are the copies below.
    product = models.ForeignKey(
        "commerce.Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=200)
    sku = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    discount = models.DecimalField("discount %", max_digits=5, decimal_places=2, default=0)
    line_total = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["quote", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="quote_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="quote_line_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(discount__gte=0) & Q(discount__lte=100), name="quote_line_discount_pct"
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.name}"

    @property
    def net_unit_price(self):
        return net_unit_price(self.unit_price, self.discount)
