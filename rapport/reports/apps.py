from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "rapport.reports"
    label = "reports"
    verbose_name = "Reports"

    def ready(self):
        from rapport.accounts import access
        from rapport.accounts.choices import Domain
        from rapport.core.registry import NavItem, register_nav
        from rapport.reports.models import Report

        # A report is its owner's: only they (or an administrator) change or delete it. Who may
        # *open* it is wider: the teams and roles it is shared with (`Report.shared_with`, the
        # same rule `Report.objects.visible_to` applies to a list).
        access.register(
            Report,
            domain=Domain.ANALYTICS,
            owner_field="owner",
            personal=True,
            shared_with=Report.is_shared_with,
        )
        register_nav(NavItem(key="reports", label="Reports", url_name="reports:list", order=67))
        self._register_dashboards()
        self._register_scheduled_email()

    def _register_scheduled_email(self):
        from rapport.core import schedules
        from rapport.reports import tasks

        schedules.register_chain(tasks.CHAIN_NAME, tasks.send_due_deliveries, tasks.start_sweep)

    def _register_dashboards(self):
        from rapport.accounts import access
        from rapport.accounts.choices import Domain
        from rapport.core.registry import NavItem, Panel, register_nav, register_panel
        from rapport.reports import caching, dashboard_views
        from rapport.reports.models import Dashboard

        # Widgets' figures are cached until a write changes what they count.
        caching.watch_writes()

        # Like a report: the owner's (built-ins: administrators', see `dashboards.require_change`),
        # opened by the teams and roles it is shared with or is Home for.
        access.register(
            Dashboard,
            domain=Domain.ANALYTICS,
            owner_field="owner",
            personal=True,
            shared_with=Dashboard.is_shared_with,
        )
        register_nav(
            NavItem(
                key="dashboards",
                label="Dashboards",
                url_name="reports:dashboard_list",
                order=66,
            )
        )
        # Above Home's other panels, which stay as they are for everyone.
        register_panel(
            "home",
            Panel(
                key="dashboard",
                title="Dashboard",
                template="reports/dashboards/home_panel.html",
                context=dashboard_views.home_panel,
                order=0,
                column="top",
            ),
        )
