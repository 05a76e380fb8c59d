"""Sales quotas: what a rep or a team should win in a calendar month or quarter."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from rapport.core.models import TimeStampedModel


class QuotaPeriod(models.TextChoices):
    MONTH = "month", "Month"
    QUARTER = "quarter", "Quarter"


class QuotaQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The quotas of people within the user's sales scope: a rep's own and, with the team
        scope, their teammates' and their teams'; everything with the "all" scope."""
        from rapport.accounts import access
        from rapport.accounts.choices import Domain, Scope

        if not access.is_signed_in(user):
            return self.none()
        scope = user.scope_for(Domain.SALES)
        if scope == Scope.ALL:
            return self
        ids = access.teammate_ids(user) if scope == Scope.TEAM else [user.id]
        # A team quota is its members' (as `access` judges it): seen by whoever sees one of them.
        return self.filter(Q(user_id__in=ids) | Q(team__members__id__in=ids)).distinct()

    def for_period(self, start, end):
        return self.filter(period_start=start, period_end=end)


class Quota(TimeStampedModel):
    """A target for one rep (`user`) or one team, over one calendar month or quarter, in the
    company currency it was set in, for every pipeline or one.

    Attainment is not stored: `sales.quotas.attainment` counts the deals won in the period by
    the rep (or the team's members) whenever it is asked. The services keep the period a whole
    calendar month or quarter and the amount above zero; the constraints say so too, so no
    other path can store a quota that could never be attained or compared.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="quotas",
    )
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="quotas"
    )
    period = models.CharField(max_length=10, choices=QuotaPeriod.choices)
    period_start = models.DateField()
    period_end = models.DateField(help_text="The period's last day, included.")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, help_text="The company currency when it was set.")
    pipeline = models.ForeignKey(
        "sales.Pipeline",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="quotas",
        help_text="Empty: deals of every pipeline count.",
    )

    objects = QuotaQuerySet.as_manager()

    class Meta:
        ordering = ["period_start", "period_end", "user", "team", "pipeline", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="quota_amount_positive"),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="quota_period_order"
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=False, team__isnull=True)
                | Q(user__isnull=True, team__isnull=False),
                name="quota_one_assignee",
            ),
            # NULLs differ from each other in a unique index, so "every pipeline" and each
            # kind of assignee get their own partial index.
            models.UniqueConstraint(
                fields=["user", "period_start", "period_end"],
                condition=Q(user__isnull=False, pipeline__isnull=True),
                name="uniq_quota_user_period",
            ),
            models.UniqueConstraint(
                fields=["user", "period_start", "period_end", "pipeline"],
                condition=Q(user__isnull=False, pipeline__isnull=False),
                name="uniq_quota_user_period_pipeline",
            ),
            models.UniqueConstraint(
                fields=["team", "period_start", "period_end"],
                condition=Q(team__isnull=False, pipeline__isnull=True),
                name="uniq_quota_team_period",
            ),
            models.UniqueConstraint(
                fields=["team", "period_start", "period_end", "pipeline"],
                condition=Q(team__isnull=False, pipeline__isnull=False),
                name="uniq_quota_team_period_pipeline",
            ),
        ]
        indexes = [models.Index(fields=["period_start", "period_end"], name="quota_period_idx")]

    def __str__(self):
        return f"{self.assignee_label}, {self.period_label}"

    @property
    def assignee_label(self) -> str:
        if self.user_id is not None:
            return str(self.user)
        return f"Team {self.team}"

    @property
    def period_label(self) -> str:
        from rapport.sales import quota_periods

        return quota_periods.label(self.period_start, self.period_end)
