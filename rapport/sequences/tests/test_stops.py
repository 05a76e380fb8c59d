"""Each way an enrollment stops, with its reason in words: a reply, mail from the contact, a
meeting, a deal changing stage, an unsubscribe, a bounce, a failed send, consent, access."""

import pytest
from django.utils import timezone

from rapport.contacts.services import set_consent
from rapport.core import display
from rapport.core.events import emit
from rapport.interactions.services import log_interaction
from rapport.mail import tracking
from rapport.mail.choices import MessageDirection, MessageStatus
from rapport.mail.events import EmailReceived, EmailReplied
from rapport.mail.models import EmailMessage
from rapport.mail.templating import create_template
from rapport.sequences import services
from rapport.sequences.choices import EnrollmentStatus, StopReason
from rapport.sequences.tests.conftest import make_due, sent_messages

pytestmark = pytest.mark.django_db


def inbound(*, mailbox, contact, sender, subject="Re: Hello Ada"):
    return EmailMessage.objects.create(
        mailbox=mailbox,
        direction=MessageDirection.INBOUND,
        status=MessageStatus.RECEIVED,
        message_id=f"{sender}-{timezone.now().timestamp()}@example.com",
        from_address=sender,
        subject=subject,
        occurred_at=timezone.now(),
        contact=contact,
    )


@pytest.fixture
def started(enroll, ada, run_due, smtp_server):
    """Ada enrolled, her first email sent."""
    enrollment = enroll(ada)
    make_due(enrollment)
    run_due()
    return enrollment


def stopped(enrollment):
    enrollment.refresh_from_db()
    return enrollment.status, enrollment.stop_reason


def test_a_reply_to_a_sequence_email_stops_it(
    started, mailbox, ada, django_capture_on_commit_callbacks
):
    [sent] = sent_messages(started)
    reply = inbound(mailbox=mailbox, contact=ada, sender="someone@elsewhere.example")

    with django_capture_on_commit_callbacks(execute=True):
        emit(EmailReplied(message_id=reply.pk, replied_to_id=sent.pk, contact_id=ada.pk))

    assert stopped(started) == (EnrollmentStatus.STOPPED, StopReason.REPLIED)
    assert started.status_detail == f"replied on {display.moment_text(reply.occurred_at, 'dated')}"
    assert started.next_due_at is None


def test_any_mail_from_the_contact_counts_as_a_reply(
    started, mailbox, ada, django_capture_on_commit_callbacks
):
    message = inbound(mailbox=mailbox, contact=ada, sender="ada@example.com", subject="Call me")

    with django_capture_on_commit_callbacks(execute=True):
        emit(EmailReceived(message_id=message.pk, mailbox_id=mailbox.pk, contact_id=ada.pk))

    assert stopped(started) == (EnrollmentStatus.STOPPED, StopReason.REPLIED)
    assert started.status_detail.endswith(": “Call me”")


def test_a_colleagues_mail_about_the_contact_does_not_stop_it(
    started, mailbox, ada, django_capture_on_commit_callbacks
):
    message = inbound(mailbox=mailbox, contact=ada, sender="boss@rapport.example")

    with django_capture_on_commit_callbacks(execute=True):
        emit(EmailReceived(message_id=message.pk, mailbox_id=mailbox.pk, contact_id=ada.pk))

    assert stopped(started) == (EnrollmentStatus.ACTIVE, "")


def test_a_logged_meeting_stops_it(started, owner, ada, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        log_interaction(actor=owner, kind="meeting", contact=ada, subject="Demo")

    assert stopped(started) == (EnrollmentStatus.STOPPED, StopReason.MEETING_BOOKED)
    assert started.status_detail == (
        f"a meeting was logged on {display.day_text(timezone.localdate(), 'dated')}"
    )


def test_a_logged_call_does_not_stop_it(started, owner, ada, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        log_interaction(actor=owner, kind="call", contact=ada, subject="Voicemail")

    assert stopped(started) == (EnrollmentStatus.ACTIVE, "")


@pytest.fixture
def deal_setup(admin_user, owner, ada):
    from rapport.sales.services.deals import create_deal
    from rapport.sales.services.pipelines import create_pipeline

    pipeline = create_pipeline(actor=admin_user, name="New business", currency="EUR")
    stages = list(pipeline.stages.order_by("position"))
    deal = create_deal(
        actor=owner,
        owner=owner,
        name="Analytical engine",
        pipeline=pipeline,
        contact=ada,
        expected_close_date=timezone.localdate() + timezone.timedelta(days=30),
    )
    return deal, stages[1]


@pytest.mark.parametrize("stops", [True, False])
def test_a_deal_changing_stage_stops_it_only_when_the_sequence_says_so(
    stops, started, owner, sequence, deal_setup, django_capture_on_commit_callbacks
):
    from rapport.sales.services.deals import move_deal

    services.update_sequence(actor=owner, sequence=sequence, stop_on_deal_stage_change=stops)
    deal, stage = deal_setup

    with django_capture_on_commit_callbacks(execute=True):
        move_deal(actor=owner, deal=deal, stage=stage)

    if stops:
        assert stopped(started) == (EnrollmentStatus.STOPPED, StopReason.DEAL_STAGE_CHANGED)
        assert started.status_detail == f"the deal “Analytical engine” moved to {stage.name}"
    else:
        assert stopped(started) == (EnrollmentStatus.ACTIVE, "")


def test_an_unsubscribe_stops_it_at_the_next_step(started, run_due, smtp_server):
    [sent] = sent_messages(started)
    token = tracking.unsubscribe_url(sent).rstrip("/").rsplit("/", 1)[-1]
    assert tracking.unsubscribe(token)
    make_due(started)

    assert run_due() == {"stopped": 1}

    assert stopped(started) == (EnrollmentStatus.STOPPED, StopReason.UNSUBSCRIBED)
    assert started.status_detail == (
        f"ada@example.com unsubscribed on {display.day_text(timezone.localdate(), 'dated')}."
    )
    assert len(sent_messages(started)) == 1


def test_a_bouncing_address_stops_it(started, run_due):
    tracking.mark_bouncing(email="ada@example.com", detail="550 no such user")
    make_due(started)

    assert run_due() == {"stopped": 1}

    assert stopped(started) == (EnrollmentStatus.STOPPED, StopReason.BOUNCED)
    assert started.status_detail == "ada@example.com bounces: Rapport sends it no mail."


def test_an_email_the_server_refused_stops_it_with_the_servers_words(
    enroll, ada, run_due, smtp_server
):
    smtp_server.fail_next(550, "5.1.1 mailbox unavailable")
    enrollment = enroll(ada)
    make_due(enrollment)
    run_due()
    [failed] = sent_messages(enrollment)
    assert failed.status == MessageStatus.FAILED
    make_due(enrollment)

    assert run_due() == {"stopped": 1}

    assert stopped(enrollment) == (EnrollmentStatus.STOPPED, StopReason.SEND_FAILED)
    assert enrollment.status_detail.startswith("The email of step 1 was not delivered: ")
    assert "550" in enrollment.status_detail


def test_marketing_mail_without_consent_is_refused_at_enrolment_and_stops_later(
    admin_user, owner, mailbox, ada, run_due, smtp_server
):
    from django.core.exceptions import ValidationError

    offer = create_template(
        actor=admin_user,
        name="Offer",
        subject="Our offer",
        body_html="<p>Hello</p>",
        purpose="marketing",
        shared=True,
    )
    campaign = services.create_sequence(
        actor=owner,
        name="Offers",
        mailbox=mailbox,
        steps=[{"kind": "email", "template": offer.pk}],
    )

    with pytest.raises(ValidationError) as refused:
        services.enroll_contact(actor=owner, sequence=campaign, contact=ada)
    assert refused.value.message_dict == {
        "contact": [
            "No consent for marketing mail: ada@example.com: Ada Lovelace has not granted "
            "consent to marketing email (Consent → Email is not “granted”)."
        ]
    }

    set_consent(actor=owner, contact=ada, channel="email", status="granted", lawful_basis="consent")
    enrollment = services.enroll_contact(actor=owner, sequence=campaign, contact=ada)
    set_consent(actor=owner, contact=ada, channel="email", status="unknown")
    make_due(enrollment)

    assert run_due() == {"stopped": 1}
    assert stopped(enrollment) == (EnrollmentStatus.STOPPED, StopReason.NO_CONSENT)
    assert smtp_server.messages == []


def test_withdrawn_consent_stops_even_personal_mail(started, owner, ada, run_due):
    set_consent(actor=owner, contact=ada, channel="email", status="withdrawn")
    make_due(started)

    assert run_due() == {"stopped": 1}
    assert stopped(started) == (EnrollmentStatus.STOPPED, StopReason.UNSUBSCRIBED)
    assert started.status_detail == "Ada Lovelace withdrew consent to email."


def test_when_the_enrolling_person_loses_the_contact_it_stops(
    started, ada, owner, outsider, admin_user, run_due
):
    from rapport.contacts.services import update_contact

    update_contact(actor=admin_user, contact=ada, owner=outsider)
    make_due(started)

    assert run_due() == {"stopped": 1}
    assert stopped(started) == (EnrollmentStatus.STOPPED, StopReason.NO_ACCESS)
    assert started.status_detail == f"{owner} may no longer change Ada Lovelace."


def test_a_person_stops_it_with_their_name(started, owner):
    services.stop_enrollment(actor=owner, enrollment=started)

    assert stopped(started) == (EnrollmentStatus.STOPPED, StopReason.STOPPED_BY_USER)
    assert started.status_detail == f"stopped by {owner}"
