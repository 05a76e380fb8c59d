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


# --------------------------------------------------------------------------- scheduled email


class DeliveryFrequency(models.TextChoices):
    DAILY = "daily", "Every day"
    WEEKLY = "weekly", "Every week"
    MONTHLY = "monthly", "Every month"


class DeliveryFormat(models.TextChoices):
    """The files attached; the figures are in the email's body as well."""

    PDF = "pdf", "PDF"
    PDF_CSV = "pdf_csv", "PDF and CSV"
    PDF_XLSX = "pdf_xlsx", "PDF and Excel (XLSX)"


# ISO weekdays, as `Delivery.weekday` stores them.
WEEKDAYS = [
    (1, "Monday"),
    (2, "Tuesday"),
    (3, "Wednesday"),
    (4, "Thursday"),
    (5, "Friday"),
    (6, "Saturday"),
    (7, "Sunday"),
]


class DeliveryQuerySet(models.QuerySet):
    def due(self, now):
        """Active schedules whose slot has come, and any schedule someone asked to send now."""
        return self.filter(
            Q(is_active=True, next_run_at__lte=now) | Q(send_requested_at__isnull=False)
        )


class Delivery(TimeStampedModel):
    """A report or a dashboard emailed on a schedule to people who may open it.

    Exactly one of `report` and `dashboard` is set. Each recipient's copy is computed with the
    recipient's own record access, never the scheduler's; who may be a recipient is checked when
    the schedule is saved and again at every send (`reports.deliveries`). `next_run_at` is the
    next slot in UTC, worked out from the local `time_of_day` in `time_zone`; the send of a slot
    and the move to the next one commit together, so a slot is sent once.
    """

    report = models.ForeignKey(
        Report, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    dashboard = models.ForeignKey(
        Dashboard, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="scheduled_deliveries",
    )
    mailbox = models.ForeignKey(
        "mail.Mailbox", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recipients = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="received_deliveries"
    )
    recipient_teams = models.ManyToManyField("accounts.Team", blank=True, related_name="+")
    recipient_roles = models.ManyToManyField("accounts.Role", blank=True, related_name="+")
    frequency = models.CharField(max_length=10, choices=DeliveryFrequency.choices)
    weekday = models.PositiveSmallIntegerField(null=True, blank=True, choices=WEEKDAYS)
    day_of_month = models.PositiveSmallIntegerField(null=True, blank=True)
    time_of_day = models.TimeField()
    time_zone = models.CharField(max_length=64, default="UTC")
    format = models.CharField(
        max_length=10, choices=DeliveryFormat.choices, default=DeliveryFormat.PDF
    )
    is_active = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True)
    # "Send now": set by the person asking, cleared by the one send that claims it.
    send_requested_at = models.DateTimeField(null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        verbose_name = "scheduled email"
        constraints = [
            models.CheckConstraint(
                condition=Q(report__isnull=False, dashboard__isnull=True)
                | Q(report__isnull=True, dashboard__isnull=False),
                name="delivery_report_xor_dashboard",
            )
        ]

    @property
    def target(self):
        return self.report if self.report_id else self.dashboard

    def __str__(self):
        return f"Scheduled email of {self.target}"
