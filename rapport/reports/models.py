from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from rapport.core.models import TimeStampedModel
from rapport.reports.choices import Chart, Measure, Period, Source


class ReportQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The reports `user` may open: their own, those shared with one of their teams or their
        role, and those `access` lets them see through their analytics scope (administrators see
        all). What a report *counts* is scoped again by whoever runs it."""
        from rapport.accounts import access
        from rapport.accounts.choices import Domain

        if not access.is_signed_in(user):
            return self.none()
        shared = Q(owner=user) | Q(shared_teams__in=user.teams.all())
        if user.role_id:
            shared |= Q(shared_roles=user.role_id)
        scope = access.scope_or(user, Domain.ANALYTICS, "owner", shared)
        return self.filter(pk__in=self.filter(scope).values("pk"))


class Report(TimeStampedModel):
    """A saved question over one kind of record: which records (a condition of the rule
    language), grouped by up to two fields, one measure, drawn as a chart.

    A report stores no figures: each run reads the records the viewer may see, so a report
    shared with a team shows each member their own part of the book.
    """

    name = models.CharField(max_length=120)
    description = models.CharField(max_length=500, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    conditions = models.JSONField(default=dict, blank=True)
    group_by = models.CharField(max_length=100)
    group_period = models.CharField(max_length=10, choices=Period.choices, blank=True)
    then_by = models.CharField(max_length=100, blank=True)
    then_period = models.CharField(max_length=10, choices=Period.choices, blank=True)
    measure = models.CharField(max_length=10, choices=Measure.choices, default=Measure.COUNT)
    measure_field = models.CharField(max_length=100, blank=True)
    chart = models.CharField(max_length=10, choices=Chart.choices, default=Chart.BAR)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reports",
    )
    shared_teams = models.ManyToManyField("accounts.Team", blank=True, related_name="reports")
    shared_roles = models.ManyToManyField("accounts.Role", blank=True, related_name="reports")

    objects = ReportQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    @staticmethod
    def is_shared_with(user, report) -> bool:
        """Shared with one of the user's teams or with their role (for `access`)."""
        if report.pk is None:
            return False
        if user.role_id and report.shared_roles.filter(pk=user.role_id).exists():
            return True
        return report.shared_teams.filter(pk__in=user.teams.values("pk")).exists()

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("reports:detail", args=[self.pk])


# --------------------------------------------------------------------------- dashboards


class DashboardQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The dashboards `user` may open: their own, the built-ins, those shared with one of
        their teams or their role or made their role's default (administrators see all). What
        each widget counts is scoped again by the viewer."""
        from rapport.accounts import access

        if not access.is_signed_in(user):
            return self.none()
        if user.is_administrator:
            return self
        shared = Q(owner=user) | Q(shared_teams__in=user.teams.all()) | ~Q(key="")
        if user.role_id:
            shared |= Q(shared_roles=user.role_id) | Q(default_for_roles=user.role_id)
        return self.filter(pk__in=self.filter(shared).values("pk"))


class Dashboard(TimeStampedModel):
    """A page of widgets (report charts, KPI tiles, lists) on a 12-column grid.

    Like a report it stores no figures: every widget counts what the viewer may see. A built-in
    dashboard (`key` set: manager, rep, marketer, executive) has no owner and only administrators
    change it; `default_for_roles` is what Home shows to holders of those roles.
    """

    name = models.CharField(max_length=120)
    key = models.CharField(max_length=20, blank=True, default="")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="dashboards",
    )
    shared_teams = models.ManyToManyField("accounts.Team", blank=True, related_name="dashboards")
    shared_roles = models.ManyToManyField("accounts.Role", blank=True, related_name="dashboards")
    default_for_roles = models.ManyToManyField(
        "accounts.Role", blank=True, related_name="default_dashboards"
    )

    objects = DashboardQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=~Q(key=""), name="uniq_builtin_dashboard"
            )
        ]

    @staticmethod
    def is_shared_with(user, dashboard) -> bool:
        """Built-in, shared with one of the user's teams or their role, or their role's default."""
        if dashboard.pk is None:
            return False
        if dashboard.key:
            return True
        if user.role_id and (
            dashboard.shared_roles.filter(pk=user.role_id).exists()
            or dashboard.default_for_roles.filter(pk=user.role_id).exists()
        ):
            return True
        return dashboard.shared_teams.filter(pk__in=user.teams.values("pk")).exists()

    @property
    def is_builtin(self) -> bool:
        return bool(self.key)

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("reports:dashboard_detail", args=[self.pk])


class WidgetKind(models.TextChoices):
    REPORT = "report", "Report"
    KPI = "kpi", "KPI tile"
    LIST = "list", "List"


# The widths a widget may take on the 12-column grid (CSS classes span-3 … span-12).
WIDGET_SPANS = (3, 4, 6, 8, 12)


class Widget(models.Model):
    """One block of a dashboard: a saved report's chart, a KPI with its target and trend, or a
    list from `reports.dashboard_lists`; `span` columns wide, shown in `position` order."""

    dashboard = models.ForeignKey(Dashboard, on_delete=models.CASCADE, related_name="widgets")
    kind = models.CharField(max_length=10, choices=WidgetKind.choices)
    report = models.ForeignKey(
        Report, null=True, blank=True, on_delete=models.CASCADE, related_name="widgets"
    )
    kpi = models.CharField(max_length=60, blank=True)
    list_key = models.CharField(max_length=40, blank=True)
    span = models.PositiveSmallIntegerField(default=4)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return f"{self.get_kind_display()} on {self.dashboard}"
