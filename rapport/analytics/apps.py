from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "rapport.analytics"
    label = "analytics"
    verbose_name = "Analytics"

    def ready(self):
        from rapport.analytics import bulk_actions

        bulk_actions.register()
        from rapport.accounts import access
        from rapport.accounts.choices import Domain
        from rapport.analytics import groups, panels, refresh, services
        from rapport.analytics.models import Segment

        # A saved list is its creator's: only they (or an administrator) change its definition
        # or its members; who is *in* it stays scoped by each viewer.
        access.register(Segment, domain=Domain.ANALYTICS, owner_field="created_by", personal=True)
        from rapport.core import schedules
        from rapport.core.registry import (
            MergeRelation,
            NavItem,
            Panel,
            register_merge_relation,
            register_nav,
            register_panel,
        )

        schedules.register("nightly analytics refresh", refresh.schedule_nightly_refresh)
        register_nav(
            NavItem(key="analytics", label="Analytics", url_name="analytics:overview", order=60)
        )
        register_nav(
            NavItem(key="segments", label="Segments", url_name="analytics:segment_list", order=65)
        )
        register_panel(
            "contact",
            Panel(
                key="customer_value",
                title="Customer value",
                template="analytics/panels/customer_value.html",
                context=panels.customer_value_panel,
                order=30,
                column="side",
            ),
        )
        register_panel(
            "organization",
            Panel(
                key="company_group",
                title="Company group",
                template="analytics/panels/company_group.html",
                context=groups.company_group_panel,
                order=35,
                column="main",
            ),
        )
        register_panel(
            "home",
            Panel(
                key="customer_value",
                title="Customer value",
                template="analytics/panels/home.html",
                context=panels.home_panel,
                order=50,
            ),
        )
        register_merge_relation(
            MergeRelation(
                key="analytics.lists", entity="contact", move=services.move_list_memberships
            )
        )
