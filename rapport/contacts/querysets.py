"""Named, scoped reads for contacts and organizations, and the contact list's sort keys."""

import datetime as dt

from django.db import models
from django.db.models import Case, DateTimeField, F, IntegerField, Value, When
from django.db.models.functions import Coalesce
from django.utils.deconstruct import deconstructible

from rapport.accounts.access import scope_q
from rapport.accounts.choices import Domain
from rapport.contacts.choices import LifecycleStage
from rapport.contacts.search import query_terms

# Never touched sorts before every real touch: the sort keys must be non-null for keyset pages.
NEVER = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@deconstructible(path="rapport.contacts.querysets.Literal")
class Literal(Value):
    """A constant written into the SQL text instead of passed as a parameter.

    An expression index serves a query only when the query spells the same expression. SQLite
    compares a bound `?` as different from the index's literal, so the sort keys below inline
    their constants; the index (built from the same objects) then matches on both databases.
    Only our own constants go through here (stage codes, small ints, one date-time).
    """

    def as_sql(self, compiler, connection):
        value = self.value
        if isinstance(value, bool) or value is None:
            raise TypeError("Literal takes int, str or datetime")
        if isinstance(value, int):
            return str(value), []
        if isinstance(value, dt.datetime):
            if connection.vendor == "postgresql":
                return f"'{value.isoformat()}'::timestamptz", []
            # SQLite stores UTC date-times as naive ISO text with a space.
            text = value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
            return f"'{text}'", []
        if isinstance(value, str) and value.replace("_", "").isalnum() and value.isascii():
            return f"'{value}'", []
        raise ValueError(f"not a safe literal: {value!r}")


def archived_is(value: bool) -> models.Q:
    """`is_archived = value`, spelled as a comparison.

    For a plain boolean Django writes `NOT is_archived`, which PostgreSQL reads as an equality
    on the list indexes' leading column but SQLite does not: it then sorts every matching row
    for each page, whatever the sort.
    """
    return models.Q(is_archived=Value(value))


def stage_rank():
    """A contact's lifecycle stage as its place in the funnel (subscriber 0 … churned 8)."""
    return Case(
        *[
            When(lifecycle_stage=Literal(stage.value), then=Literal(rank))
            for rank, stage in enumerate(LifecycleStage)
        ],
        default=Literal(len(LifecycleStage)),
        output_field=IntegerField(),
    )


def touched():
    """When a contact was last touched, with never as the epoch."""
    return Coalesce(F("last_touched_at"), Literal(NEVER), output_field=DateTimeField())


# Annotation name → expression. Contact.Meta indexes the same expressions (with is_archived
# first and id last), so a list sorted by them walks an index like the column sorts do.
CONTACT_SORT_KEYS = {"stage_rank": stage_rank, "touched": touched}


class ContactQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(scope_q(user, Domain.CONTACTS))

    def active(self):
        return self.filter(archived_is(False))

    def archived(self):
        return self.filter(archived_is(True))

    def with_sort_keys(self, fields=None):
        """Annotate the expression sort keys named in `fields` (all of them when None)."""
        names = [name for name in CONTACT_SORT_KEYS if fields is None or name in fields]
        return self.annotate(**{name: CONTACT_SORT_KEYS[name]() for name in names})

    def search(self, query: str):
        """Every word must appear in the name, an email, a phone or an organization name."""
        qs = self
        for term in query_terms(query):
            qs = qs.filter(search_text__contains=term)
        return qs


class OrganizationQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(scope_q(user, Domain.CONTACTS))

    def active(self):
        return self.filter(archived_is(False))

    def search(self, query: str):
        qs = self
        for term in query_terms(query):
            qs = qs.filter(search_text__contains=term)
        return qs
