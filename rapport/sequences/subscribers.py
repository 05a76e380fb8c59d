"""The stops that other apps tell about: a reply, mail from the contact, a meeting, a deal
moving stage, a task of a step completed. Subscribed in `SequencesConfig.ready()`; each runs
after the change committed (core.events) and acts as the system."""

from __future__ import annotations

from django.utils import timezone

from rapport.core import display
from rapport.sequences import runner, services
from rapport.sequences.choices import StopReason
from rapport.sequences.models import Enrollment


def on_email_replied(event) -> None:
    """A reply to an email a sequence sent stops that enrollment."""
    from rapport.mail.models import EmailMessage

    enrollments = Enrollment.objects.filter(runs__message_id=event.replied_to_id)
    if not enrollments.open().exists():
        return
    reply = EmailMessage.objects.filter(pk=event.message_id).first()
    when = reply.occurred_at if reply else timezone.now()
    services.stop_open_enrollments(
        enrollments,
        reason=StopReason.REPLIED,
        detail=f"replied on {display.moment_text(when, 'dated')}",
    )


def on_email_received(event) -> None:
    """Any mail from the contact since they were enrolled counts as a reply, in whichever
    thread it came: every open enrollment of theirs stops."""
    from rapport.contacts.models import ContactEmail
    from rapport.mail.choices import MessageDirection
    from rapport.mail.models import EmailMessage

    if not event.contact_id:
        return
    enrollments = Enrollment.objects.filter(contact_id=event.contact_id).open()
    if not enrollments.exists():
        return
    message = EmailMessage.objects.filter(
        pk=event.message_id, direction=MessageDirection.INBOUND
    ).first()
    if message is None:
        return
    sender = (message.from_address or "").strip().lower()
    if not ContactEmail.objects.filter(contact_id=event.contact_id, email=sender).exists():
        return  # a colleague's mail about the contact is not the contact answering
    when = message.occurred_at
    services.stop_open_enrollments(
        enrollments.filter(created_at__lte=message.occurred_at),
        reason=StopReason.REPLIED,
        detail=f"replied on {display.moment_text(when, 'dated')}: “{message.subject[:80]}”",
    )


def on_emails_received(events) -> None:
    """`on_email_received` for a batch (subscribed with `many=True`): a mailbox sync files
    hundreds of messages, mostly from contacts in no sequence, which one query rules out."""
    enrolled = _enrolled({event.contact_id for event in events if event.contact_id})
    for event in events:
        if event.contact_id in enrolled:
            on_email_received(event)


def on_interactions_logged(events) -> None:
    """A meeting logged with the contact stops the sequences that say so (subscribed with
    `many=True`: a demo or an import logs thousands, mostly with nobody in a sequence, which
    one query per batch rules out)."""
    met = {event.contact_id for event in events if event.kind == "meeting" and event.contact_id}
    for contact_id in _enrolled(met, stop_on_meeting=True):
        services.stop_open_enrollments(
            Enrollment.objects.filter(contact_id=contact_id, sequence__stop_on_meeting=True),
            reason=StopReason.MEETING_BOOKED,
            detail=f"a meeting was logged on {display.day_text(timezone.localdate(), 'dated')}",
        )


def on_deal_stages_changed(events) -> None:
    """A deal of the contact moving stage stops the sequences that say so (`many=True`)."""
    from rapport.sales.models import Deal, Stage

    moves = [event for event in events if not event.is_undo]
    deals = {
        row["pk"]: row
        for row in Deal.objects.filter(
            pk__any_of=[event.deal_id for event in moves], contact_id__isnull=False
        ).values("pk", "name", "contact_id")
    }
    enrolled = _enrolled(
        {deal["contact_id"] for deal in deals.values()}, stop_on_deal_stage_change=True
    )
    for event in moves:
        deal = deals.get(event.deal_id)
        if deal is None or deal["contact_id"] not in enrolled:
            continue
        stage = Stage.objects.filter(pk=event.to_stage_id).first()
        services.stop_open_enrollments(
            Enrollment.objects.filter(
                contact_id=deal["contact_id"], sequence__stop_on_deal_stage_change=True
            ),
            reason=StopReason.DEAL_STAGE_CHANGED,
            detail=f"the deal “{deal['name']}” moved to {stage.name if stage else 'another stage'}",
        )


def _enrolled(contact_ids, **sequence_flags) -> set[int]:
    """Which of `contact_ids` have an open enrollment in a sequence with `sequence_flags`."""
    if not contact_ids:
        return set()
    flags = {f"sequence__{name}": value for name, value in sequence_flags.items()}
    return set(
        Enrollment.objects.filter(contact__pk__any_of=list(contact_ids), **flags)
        .open()
        .values_list("contact_id", flat=True)
    )


def on_task_completed(event) -> None:
    runner.task_completed(event.task_id)


def connect() -> None:
    from rapport.core import events
    from rapport.interactions.events import InteractionLogged
    from rapport.mail.events import EmailReceived, EmailReplied
    from rapport.sales.events import DealStageChanged, TaskCompleted

    events.subscribe(EmailReplied, on_email_replied)
    events.subscribe(EmailReceived, on_emails_received, many=True)
    events.subscribe(InteractionLogged, on_interactions_logged, many=True)
    events.subscribe(DealStageChanged, on_deal_stages_changed, many=True)
    events.subscribe(TaskCompleted, on_task_completed)
