from django.apps import AppConfig


class FrameworksConfig(AppConfig):
    name = "rapport.frameworks"
    label = "frameworks"
    verbose_name = "CRM models"

    def ready(self):
        from rapport.accounts import access
        from rapport.accounts.choices import Domain
        from rapport.core import schedules
        from rapport.frameworks.models import Objective

        access.register(Objective, domain=Domain.ANALYTICS, owner_field="owner")
        from rapport.core.registry import NavItem, Panel, register_nav, register_panel
        from rapport.frameworks import panels, tasks

        schedules.register_chain(
            "daily KPI snapshot", tasks.daily_kpi_snapshot, tasks.schedule_next
        )

        register_nav(
            NavItem(key="crm_models", label="CRM models", url_name="frameworks:index", order=70)
        )
        register_panel(
            "contact",
            Panel(
                key="idic_journey",
                title="IDIC journey",
                template="frameworks/panels/idic_journey.html",
                context=panels.idic_journey_panel,
                order=32,
                column="side",
            ),
        )
        register_panel(
            "home",
            Panel(
                key="crm_model",
                title="CRM model",
                template="frameworks/panels/home.html",
                context=panels.home_panel,
                order=5,
            ),
        )
