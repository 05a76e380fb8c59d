"""Fixtures for the sequences tests: a real SMTP server behind a shared mailbox, templates, a
contact in Berlin, a three-step sequence, and `run_due` as the worker runs it."""

import pytest
from django.utils import timezone

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.contacts.tests.factories import make_contact
from rapport.mail.mailboxes import create_mailbox
from rapport.mail.models import EmailMessage
from rapport.mail.templating import create_template
from rapport.mail.tests.conftest import smtp_server  # noqa: F401 (the fixture)
from rapport.sequences import runner, services
from rapport.sequences.models import Enrollment


@pytest.fixture(autouse=True)
def endpoints(settings):
    settings.RAPPORT_PUBLIC_URL = "https://crm.example.com"
    settings.RAPPORT_MAIL_DOMAIN = "mail.example.com"


@pytest.fixture
def mailbox(admin_user, smtp_server):  # noqa: F811
    return create_mailbox(
        actor=admin_user,
        kind="shared",
        name="Sales",
        email_address="sales@rapport.example",
        from_name="Sales team",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
        check=False,
    )


@pytest.fixture
def intro(admin_user):
    return create_template(
        actor=admin_user,
        name="Intro",
        subject="Hello {{ contact.first_name }}",
        body_html="<p>Dear {{ contact.first_name }}, shall we talk?</p>",
        shared=True,
    )


@pytest.fixture
def follow_up(admin_user):
    return create_template(
        actor=admin_user,
        name="Follow-up",
        subject="Just checking in",
        body_html="<p>Any thoughts, {{ contact.first_name }}?</p>",
        shared=True,
    )


@pytest.fixture
def ada(owner):
    return make_contact(
        actor=owner,
        owner=owner,
        first_name="Ada",
        last_name="Lovelace",
        emails=["ada@example.com"],
        phones=["+49 30 1234567"],
    )


@pytest.fixture
def read_only_user(db, sales_team):
    role = RoleFactory(name="Viewer", is_read_only=True, scopes={"contacts": "all", "sales": "all"})
    return UserFactory(username="viewer", role=role, teams=[sales_team])


def three_steps(intro, follow_up):
    return [
        {"kind": "email", "template": intro.pk, "delay_amount": 0},
        {"kind": "email", "template": follow_up.pk, "delay_amount": 2},
        {"kind": "call", "delay_amount": 1, "task_title": "Ask about the budget"},
    ]


@pytest.fixture
def sequence(owner, mailbox, intro, follow_up):
    return services.create_sequence(
        actor=owner, name="New leads", mailbox=mailbox, steps=three_steps(intro, follow_up)
    )


@pytest.fixture
def enroll(owner, sequence):
    def make(contact, *, actor=owner, on=sequence, **kwargs):
        return services.enroll_contact(actor=actor, sequence=on, contact=contact, **kwargs)

    return make


def make_due(enrollment):
    Enrollment.objects.filter(pk=enrollment.pk).update(
        next_due_at=timezone.now() - timezone.timedelta(minutes=1)
    )


@pytest.fixture
def run_due(django_capture_on_commit_callbacks):
    """run_due() -> the outcomes, with the commit's tasks (mail delivery) run as the worker
    would."""

    def run(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return runner.run_due(**kwargs)

    return run


def sent_messages(enrollment):
    return list(
        EmailMessage.objects.filter(sequence_step_runs__enrollment=enrollment).order_by("pk")
    )
