"""Factories build through the services, so test data obeys the same invariants as real data."""

from rapport.contacts import services


def make_contact(*, actor=None, owner=None, **fields):
    fields.setdefault("first_name", "Ada")
    fields.setdefault("last_name", "Lovelace")
    return services.create_contact(actor=actor, owner=owner, **fields)


def make_organization(*, actor=None, owner=None, name="Analytical Engines Ltd", **fields):
    return services.create_organization(actor=actor, owner=owner, name=name, **fields)
