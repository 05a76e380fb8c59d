"""`rapport demo`: a believable business, built through the services, and the command's guards."""

import datetime as dt
import io
import itertools
import random

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from rapport.accounts.models import Role, Team, User
from rapport.audit.models import ChangeRecord
from rapport.contacts.choices import LifecycleStage
from rapport.contacts.models import Consent, Contact, LifecycleChange, Organization
from rapport.customfields.models import CustomFieldDefinition
from rapport.demo.builder import PARTS, available_parts
from rapport.demo.context import DemoContext
from rapport.interactions.models import Interaction


def run_demo(*args, parts="people") -> str:
    """The command, by default with the people part only: later parts have their own tests."""
    out = io.StringIO()
    call_command("demo", *args, "--no-progress", *(["--parts", parts] if parts else []), stdout=out)
    return out.getvalue()


@pytest.fixture
def demo(db):
    return run_demo("--contacts", "60", "--seed", "11")


@pytest.mark.django_db
def test_every_part_that_exists_builds_together():
    out = run_demo("--contacts", "40", "--seed", "2", parts="")
    assert f"parts: {', '.join(available_parts())}" in " ".join(out.split())
    assert "Demo ready" in out
    assert Contact.objects.count() >= 40


def test_the_demo_builds_staff_roles_teams_custom_fields_and_working_logins(demo):
    assert set(Role.objects.values_list("name", flat=True)) >= {
        "Administrator",
        "Sales rep",
        "Marketer",
        "Service agent",
        "Manager",
        "Read-only",
    }
    assert set(Team.objects.values_list("name", flat=True)) == {
        "Sales North",
        "Sales South",
        "Marketing",
        "Service",
    }
    staff = {"demo", "lena.hoffmann", "giulia.ferraro", "priya.raman", "daniel.weber"}
    assert staff <= set(User.objects.values_list("username", flat=True))
    assert User.objects.count() >= 13
    assert User.objects.get(username="demo").is_administrator
    assert User.objects.get(username="hannah.keller").role.is_read_only
    fields = set(CustomFieldDefinition.objects.values_list("entity", "key", "field_type"))
    assert ("contact", "preferred_language", "choice") in fields
    assert ("contact", "newsletter_topics", "multi_choice") in fields
    assert ("contact", "customer_since", "date") in fields
    assert ("organization", "annual_budget", "decimal") in fields
    assert "Sign in as demo / rapport-demo" in demo
    assert Client().login(username="demo", password="rapport-demo")
    assert Client().login(username="lena.hoffmann", password="rapport-demo")


def test_contacts_have_a_dated_history_a_timeline_consent_and_an_audit_trail(demo):
    now = timezone.now()
    contacts = Contact.objects.prefetch_related("lifecycle_changes")
    assert contacts.count() >= 60
    stages = set(contacts.values_list("lifecycle_stage", flat=True))
    # A funnel: early stages and customers both present.
    assert {"lead", "customer"} <= stages
    for contact in contacts:
        history = sorted(contact.lifecycle_changes.all(), key=lambda c: (c.changed_at, c.id))
        assert history[0].from_stage == ""
        assert history[-1].to_stage == contact.lifecycle_stage
        assert contact.created_at <= history[0].changed_at + dt.timedelta(seconds=1)
        assert history[-1].changed_at <= now
        for earlier, later in itertools.pairwise(history):
            assert later.from_stage == earlier.to_stage
        reached_customer = any(c.to_stage == LifecycleStage.CUSTOMER for c in history)
        assert bool(contact.custom_fields.get("customer_since")) == reached_customer
    oldest = Contact.objects.order_by("created_at").first().created_at
    assert now - oldest > dt.timedelta(days=365)
    interactions = Interaction.objects.select_related("contact")
    assert interactions.count() > 60
    for interaction in interactions:
        assert interaction.occurred_at <= now
        if interaction.contact is not None:
            assert interaction.occurred_at >= interaction.contact.created_at
    kinds = set(interactions.values_list("kind", flat=True))
    assert {"call", "meeting", "email", "note"} <= kinds
    assert interactions.filter(kind="call").exclude(outcome="").exists()
    assert interactions.filter(kind="email", direction="inbound").exists()
    with_email = Contact.objects.exclude(primary_email="")
    assert all(c.primary_email == c.primary_email.lower() for c in with_email)
    assert all(
        p.startswith("+") for p in Contact.objects.values_list("primary_phone", flat=True) if p
    )
    assert Contact.objects.filter(owner__isnull=False).count() > Contact.objects.count() * 0.7
    granted = Consent.objects.filter(status="granted")
    assert granted.exists()
    assert not granted.filter(lawful_basis="").exists()
    assert Organization.objects.exclude(domain="").count() == Organization.objects.count()
    contact_ids = {str(pk) for pk in Contact.objects.values_list("pk", flat=True)}
    created = ChangeRecord.objects.filter(entity="contacts.contact", action="create")
    assert set(created.values_list("object_id", flat=True)) == contact_ids
    assert set(created.values_list("source", flat=True)) == {"cli"}


def test_if_empty_skips_and_no_force_refuses_a_database_that_has_contacts(demo):
    before = Contact.objects.count()
    out = run_demo("--contacts", "5", "--if-empty")
    assert "skipped" in out
    assert Contact.objects.count() == before
    with pytest.raises(CommandError, match="--force"):
        run_demo("--contacts", "5")
    assert Contact.objects.count() == before


@pytest.mark.django_db
def test_the_same_seed_builds_the_same_people_and_force_reuses_the_staff():
    run_demo("--contacts", "25", "--seed", "5")
    first = list(Contact.objects.order_by("id").values_list("first_name", "last_name"))[:25]
    users = User.objects.count()
    last_id = Contact.objects.order_by("-id").values_list("id", flat=True).first()
    run_demo("--contacts", "25", "--seed", "5", "--force")
    second = list(
        Contact.objects.filter(id__gt=last_id).order_by("id").values_list("first_name", "last_name")
    )[:25]
    assert first == second
    assert User.objects.count() == users
    assert CustomFieldDefinition.objects.filter(entity__in=["contact", "organization"]).count() == 5


@pytest.mark.django_db
def test_an_unknown_part_is_refused_before_anything_is_written():
    with pytest.raises(CommandError, match="No demo part named invoicing"):
        run_demo("--contacts", "5", parts="invoicing")
    assert not User.objects.exists()


@pytest.mark.django_db
def test_out_of_range_contact_counts_are_refused():
    with pytest.raises(CommandError, match="between 1 and"):
        run_demo("--contacts", "0")
    assert not Contact.objects.exists()
    assert not LifecycleChange.objects.exists()


def test_parts_run_people_first_and_only_those_that_exist():
    parts = available_parts()
    assert parts[0] == "people"
    assert set(parts) <= set(PARTS)
    assert [p for p in PARTS if p in parts] == parts


def test_demo_moments_are_working_hours_in_the_past():
    from faker import Faker
    from rich.console import Console

    now = timezone.now()
    ctx = DemoContext(
        rng=random.Random(1),
        faker=Faker(),
        now=now,
        scale=1,
        admin=None,
        console=Console(),
        show_progress=False,
    )
    for _ in range(300):
        at = ctx.moment(400, 1)
        assert at <= now
        assert at.weekday() < 5
        assert 8 <= at.hour < 18
        later = ctx.moment_after(at, 30)
        assert at <= later <= now
        snapped = ctx.working_time(at.replace(hour=22))
        assert snapped.weekday() < 5 and 8 <= snapped.hour < 18
