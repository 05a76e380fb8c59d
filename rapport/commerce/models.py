"""Products, orders and their lines, and the shops that send orders in by webhook."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse

from rapport.commerce.choices import (
    REVENUE_STATUSES,
    OrderKind,
    OrderSource,
    OrderStatus,
    RevenueSources,
)
from rapport.commerce.querysets import OrderQuerySet, ProductQuerySet
from rapport.core.models import TimeStampedModel


class Product(TimeStampedModel):
    """Something the business sells. The SKU is unique; lines keep their own sold price."""

    name = models.CharField(max_length=200)
    sku = models.CharField("SKU", max_length=64)
    category = models.CharField(max_length=100, blank=True, db_index=True)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            # "ab-1" and "AB-1" are the same SKU to every shop system and to people.
            models.UniqueConstraint(
                Lower("sku"),
                name="uniq_product_sku_ci",
                violation_error_message="Another product already has this SKU.",
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.sku})"

    def get_absolute_url(self):
        return reverse("commerce:product_detail", args=[self.pk])


class Shop(TimeStampedModel):
    """An e-commerce system that posts orders to its own signed webhook URL.

    `secret` signs each delivery (HMAC-SHA256); it has to be kept in clear because the
    signature is recomputed on every request, so only administrators ever see it.
    """

    name = models.CharField(max_length=100)
    key = models.SlugField(max_length=50, unique=True)
    secret = models.CharField(max_length=128)
    is_active = models.BooleanField(default=True)
    default_currency = models.CharField(max_length=3)
    default_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Owner of the contacts a delivery creates.",
    )
    last_delivery_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def external_system(self) -> str:
        return f"shop:{self.key}"


class Order(TimeStampedModel):
    """A purchase by a contact and/or an organization.

    `total` always equals the sum of the lines when there are lines (the services check it);
    an order imported as a single amount may have no lines. Only REVENUE_STATUSES count as
    revenue. (external_system, external_id) is unique, which is what makes webhook deliveries
    and re-run imports idempotent. An order of kind "deal" is a won deal's (`deal_id`, one per
    deal): it is written and removed with the deal's status, never edited on its own.
    """

    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
    )
    organization = models.ForeignKey(
        "contacts.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
    )
    ordered_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.PAID)
    currency = models.CharField(max_length=3)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    source = models.CharField(
        max_length=20, choices=OrderSource.choices, default=OrderSource.MANUAL
    )
    shop = models.ForeignKey(
        Shop, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    external_system = models.CharField(max_length=60, blank=True)
    external_id = models.CharField(max_length=100, blank=True)
    note = models.CharField(max_length=500, blank=True)
    kind = models.CharField(max_length=10, choices=OrderKind.choices, default=OrderKind.SHOP)
    # The won deal this order records. A plain id, not a foreign key: commerce must not depend
    # on sales (docs/architecture.md); the sales services keep it true.
    deal_id = models.PositiveBigIntegerField("deal", null=True, blank=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-ordered_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "ordered_at"]),
            models.Index(fields=["organization", "ordered_at"]),
            models.Index(fields=["status", "ordered_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["external_system", "external_id"],
                condition=~Q(external_id=""),
                name="uniq_order_external_id",
            ),
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_not_negative"),
            models.UniqueConstraint(
                fields=["deal_id"], condition=Q(deal_id__isnull=False), name="uniq_order_per_deal"
            ),
        ]

    def __str__(self):
        return f"Order {self.reference}"

    @property
    def reference(self) -> str:
        return self.external_id or f"#{self.pk}"

    @property
    def is_revenue(self) -> bool:
        return self.status in REVENUE_STATUSES

    def get_absolute_url(self):
        return reverse("commerce:order_detail", args=[self.pk])


class OrderLine(models.Model):
    """One product on an order: quantity × unit price (the price sold at, after discounts)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="order_lines"
    )
    description = models.CharField(max_length=200, blank=True)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    line_total = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="order_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="order_line_price_not_negative"
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.description or self.product}"


class CompanyCurrency(models.Model):
    """The one currency totals, forecasts and analytics are reported in (a single row, pk 1).

    Until an administrator picks one, RAPPORT_CURRENCY from the environment is the company
    currency; see `rapport.commerce.rates.company_currency`.
    """

    code = models.CharField("company currency", max_length=3)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.code


class RevenueSettings(models.Model):
    """Which orders count as revenue for analytics and the value KPIs (a single row, pk 1).

    Without a row both shop orders and won deals count.
    """

    sources = models.CharField(
        "revenue counted",
        max_length=10,
        choices=RevenueSources.choices,
        default=RevenueSources.BOTH,
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.get_sources_display()


class RateSource(models.TextChoices):
    ENTERED = "entered", "Entered"
    IMPORTED = "imported", "Imported"
    # Made up for the demo data set; never a market rate.
    DEMO = "demo", "Demo rate (not a market rate)"


class ExchangeRate(TimeStampedModel):
    """What one unit of `currency` was worth in `to_currency` from `valid_on` on.

    `to_currency` is the company currency the rate was given for: after the company currency
    changes, older rates are kept but no longer used. Rates are always greater than zero.
    """

    currency = models.CharField(max_length=3)
    to_currency = models.CharField("company currency", max_length=3)
    rate = models.DecimalField(max_digits=20, decimal_places=10)
    valid_on = models.DateField("date")
    source = models.CharField(max_length=10, choices=RateSource.choices, default=RateSource.ENTERED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["currency", "-valid_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["currency", "to_currency", "valid_on"],
                name="uniq_exchange_rate_per_day",
                violation_error_message="There is already a rate for this currency on this date.",
            ),
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchange_rate_positive"),
        ]

    def __str__(self):
        return f"1 {self.currency} = {self.rate_text} {self.to_currency} from {self.valid_on}"

    @property
    def rate_text(self) -> str:
        """The rate without trailing zeros and never in exponent form ("0.92", "100")."""
        return f"{self.rate.normalize():f}"
