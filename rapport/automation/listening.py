"""What automation listens to, remembered per process (`core.presence`): the trigger types of
active workflows and the event types of active webhook subscriptions. An event nobody listens
to then costs no query."""

from rapport.core.presence import Presence


def _workflow_triggers():
    from rapport.automation.models import Workflow

    return Workflow.objects.active().values_list("trigger_type", flat=True).distinct()


def _webhook_events():
    from rapport.automation.models import WebhookSubscription

    return {
        event_type
        for types in WebhookSubscription.objects.active().values_list("event_types", flat=True)
        for event_type in types or ()
    }


workflow_triggers = Presence(_workflow_triggers)
webhook_events = Presence(_webhook_events)
