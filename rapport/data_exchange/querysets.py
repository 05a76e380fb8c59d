"""Scoped reads of the data pages and API: who may see which pairs and which figures."""

from rapport.accounts.access import can_administer, scope_q
from rapport.accounts.choices import Domain, Scope
from rapport.data_exchange.choices import Entity
from rapport.data_exchange.models import ContactDuplicate, OrganizationDuplicate


def visible_pairs(entity: str, user):
    """Suspected pairs whose two records the user may both see (and neither is archived)."""
    if entity == Entity.CONTACT:
        return ContactDuplicate.objects.filter(
            scope_q(user, Domain.CONTACTS, "contact_a__owner"),
            scope_q(user, Domain.CONTACTS, "contact_b__owner"),
            contact_a__is_archived=False,
            contact_b__is_archived=False,
        ).select_related("contact_a", "contact_b", "contact_a__owner", "contact_b__owner")
    return OrganizationDuplicate.objects.filter(
        scope_q(user, Domain.CONTACTS, "organization_a__owner"),
        scope_q(user, Domain.CONTACTS, "organization_b__owner"),
        organization_a__is_archived=False,
        organization_b__is_archived=False,
    ).select_related("organization_a", "organization_b")


def sees_everything(user) -> bool:
    """Whole-database figures (the quality trend) are for those who may see every contact."""
    if user is None or not user.is_authenticated:
        return False
    return can_administer(user) or user.scope_for(Domain.CONTACTS) == Scope.ALL
