"""Named, scoped reads for orders and products."""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from rapport.accounts.access import scope_q
from rapport.accounts.choices import Domain
from rapport.commerce.choices import REVENUE_STATUSES


def order_visible_q(user, through: str = "") -> Q:
    """The orders `user` may see, as a condition on `through` (e.g. "order__" from an order's
    line): the one rule, so a record reached through its order is decided the same way."""
    return (
        Q(**{f"{through}contact__isnull": False})
        & scope_q(user, Domain.CONTACTS, f"{through}contact__owner")
    ) | (
        Q(**{f"{through}organization__isnull": False})
        & scope_q(user, Domain.CONTACTS, f"{through}organization__owner")
    )


class OrderQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Visible when the contact or the organization it belongs to is visible."""
        return self.filter(order_visible_q(user))

    def revenue(self):
        """Orders whose money was received and kept."""
        return self.filter(status__in=REVENUE_STATUSES)

    def counted_as_revenue(self):
        """Revenue orders of the kinds the company counts for analytics (shop, won deals)."""
        from rapport.commerce.revenue import counted_kinds

        return self.revenue().filter(kind__in=counted_kinds())

    def for_contact(self, contact):
        return self.filter(contact=contact)

    def for_organization(self, organization):
        return self.filter(organization=organization)


class ProductQuerySet(models.QuerySet):
    def with_sku_in(self, skus):
        """Products whose SKU is one of `skus`, ignoring case (uses the unique index)."""
        return self.alias(sku_lower=Lower("sku")).filter(
            sku_lower__in=[sku.strip().lower() for sku in skus]
        )

    def active(self):
        return self.filter(is_active=True)

    def search(self, query: str):
        # PostgreSQL refuses a NUL in any text parameter; no product's name or SKU holds one.
        query = (query or "").replace("\x00", "").strip()[:100]
        if not query:
            return self
        return self.filter(Q(name__icontains=query) | Q(sku__icontains=query))
