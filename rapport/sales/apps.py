from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "rapport.sales"
    label = "sales"
    verbose_name = "Sales"

    def ready(self):
        from rapport.sales import bulk_actions, bulk_assignment

        bulk_actions.register()
        bulk_assignment.register()
        from rapport.accounts import access
        from rapport.accounts.access import can_administer
        from rapport.accounts.choices import Domain
        from rapport.sales.models import Deal, Task

        access.register(Deal, domain=Domain.SALES, owner_field="owner")
        from rapport.sales.models import Quote, QuoteSettings

        # A quote is seen and worked by whoever may see and work its deal.
        access.register(Quote, domain=Domain.SALES, owners=access.owners_through("deal"))
        access.register_configuration(QuoteSettings)
        # Deals files come in through the shared import machinery (history, dry run, undo).
        from rapport.core.importing import register_importer
        from rapport.sales.importing import DealImporter, TaskImporter

        register_importer(DealImporter())
        register_importer(TaskImporter())
        # A task is its assignee's and its creator's: either may work it (and their scopes).
        access.register(
            Task,
            domain=Domain.SALES,
            owners=lambda task: (task.assignee_id, task.created_by_id),
        )
        # A quota is its rep's, or its team members': seen within the sales scope, set by managers.
        from rapport.sales.models import Quota
        from rapport.sales.quotas import quota_owner_ids

        access.register(Quota, domain=Domain.SALES, owners=quota_owner_ids)
        from rapport.contacts import events as contact_events
        from rapport.core import events, schedules
        from rapport.core.registry import (
            MergeRelation,
            NavItem,
            Panel,
            TimelineSource,
            register_merge_relation,
            register_nav,
            register_panel,
            register_timeline_source,
        )
        from rapport.interactions.events import InteractionLogged
        from rapport.sales import panels, subscribers, tasks
        from rapport.sales.events import DealCreated, WebFormSubmitted
        from rapport.sales.services import merge

        schedules.register_chain(
            "sales scheduler", tasks.run_sales_schedule, tasks.schedule_next_tick
        )
        register_nav(
            NavItem(key="pipeline", label="Pipeline", url_name="sales:board_default", order=30)
        )
        register_nav(NavItem(key="deals", label="Deals", url_name="sales:deal_list", order=31))
        register_nav(NavItem(key="leads", label="Leads", url_name="sales:lead_list", order=32))
        register_nav(NavItem(key="my_day", label="My day", url_name="sales:my_day", order=34))
        register_nav(
            NavItem(
                key="web_forms",
                label="Forms",
                url_name="sales:webform_list",
                order=36,
                permission=can_administer,
            )
        )
        for entity in ("contact", "organization"):
            register_panel(
                entity,
                Panel(
                    key="sales_deals",
                    title="Deals",
                    template="sales/panels/deals.html",
                    context=panels.deals_panel,
                    order=40,
                ),
            )
            register_panel(
                entity,
                Panel(
                    key="sales_tasks",
                    title="Tasks",
                    template="sales/panels/tasks.html",
                    context=panels.tasks_panel,
                    order=45,
                    column="side",
                ),
            )
        register_panel(
            "contact",
            Panel(
                key="sales_lead_score",
                title="Lead score",
                template="sales/panels/lead_score.html",
                context=panels.lead_score_panel,
                order=35,
                column="side",
            ),
        )
        register_panel(
            "home",
            Panel(
                key="sales_my_day",
                title="My day",
                template="sales/panels/my_day.html",
                context=panels.my_day_panel,
                order=10,
            ),
        )
        register_timeline_source(
            TimelineSource(key="sales_deal_stages", entries=panels.deal_timeline)
        )
        register_merge_relation(
            MergeRelation(key="sales_contact", entity="contact", move=merge.move_contact_records)
        )
        register_merge_relation(
            MergeRelation(
                key="sales_organization",
                entity="organization",
                move=merge.move_organization_records,
            )
        )
        events.subscribe(contact_events.ContactCreated, subscribers.on_contacts_created, many=True)
        events.subscribe(
            contact_events.OrganizationCreated, subscribers.on_organizations_created, many=True
        )
        events.subscribe(DealCreated, subscribers.on_deals_created, many=True)
        events.subscribe(contact_events.ContactUpdated, subscribers.on_contact_updated)
        events.subscribe(contact_events.LifecycleStageChanged, subscribers.on_lifecycle_changed)
        events.subscribe(InteractionLogged, subscribers.on_interaction_logged, many=True)
        events.subscribe(WebFormSubmitted, subscribers.on_web_form_submitted)
