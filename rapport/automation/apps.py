from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "rapport.automation"
    label = "automation"
    verbose_name = "Automation"

    def ready(self):
        from rapport.automation import tasks, webhooks
        from rapport.core import events, schedules

        # Webhook subscriptions are administrators' configuration: no access rule is registered
        # (an undeclared record is configuration), and every service and view requires
        # `Action.ADMINISTER`, reading included — a subscription holds a signing secret and its
        # deliveries hold copies of the CRM's events.
        events.observe_in_transaction(webhooks.record_deliveries)
        schedules.register_chain("webhook sweep", tasks.sweep_webhooks, tasks.schedule_sweep)

        # Workflows: the same administrators' configuration; their triggers listen to the
        # other apps' events, and the clock resumes waits and fires date and schedule triggers.
        from rapport.automation import panels, triggers

        triggers.connect()
        panels.connect()
        schedules.register_chain("workflow clock", tasks.workflow_clock, tasks.schedule_clock)
