"""Named, scoped reads for the sales app. Every list and detail starts from one of these."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q

from rapport.accounts.access import scope_or, scope_q
from rapport.accounts.choices import Domain


class PipelineQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_archived=False)


class DealQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Deals whose owner is within the user's sales scope (own, team or all)."""
        return self.filter(scope_q(user, Domain.SALES))

    def active(self):
        return self.filter(is_archived=False)

    def open(self):
        return self.filter(status="open")

    def filtered(self, *, owner_id=None, team_id=None, close_month: dt.date | None = None):
        """The board's filters: one owner, the members of one team, one expected-close month."""
        qs = self
        if owner_id:
            qs = qs.filter(owner_id=owner_id)
        if team_id:
            qs = qs.filter(owner__teams__id=team_id)
        if close_month is not None:
            start = close_month.replace(day=1)
            end = (start + dt.timedelta(days=32)).replace(day=1)
            qs = qs.filter(expected_close_date__gte=start, expected_close_date__lt=end)
        return qs


class TaskQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Tasks the user is assigned, created, or may see through their sales scope."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        # Through `scope_or`: the "all" scope is an empty Q(), which a bare `|` would drop.
        return self.filter(
            scope_or(
                user, Domain.SALES, "assignee", Q(assignee_id=user.id), Q(created_by_id=user.id)
            )
        )

    def open(self):
        return self.filter(status="open")

    def assigned_to(self, user):
        return self.filter(assignee_id=user.id)


class QuoteQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Quotes of the deals the user may see: a quote is seen with its deal."""
        return self.filter(scope_q(user, Domain.SALES, "deal__owner"))

    def open(self):
        return self.filter(status__in=["draft", "sent"])


class NotificationQuerySet(models.QuerySet):
    def for_user(self, user):
        if user is None or not user.is_authenticated:
            return self.none()
        return self.filter(recipient_id=user.id)

    def unread(self):
        return self.filter(read_at__isnull=True)


def leads_visible_to(user):
    """Leads are contacts in the lead stages of the lifecycle, seen through the contacts scope."""
    from rapport.contacts.choices import LEAD_STAGES
    from rapport.contacts.models import Contact

    return Contact.objects.visible_to(user).active().filter(lifecycle_stage__in=LEAD_STAGES)
