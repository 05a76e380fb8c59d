"""Events of an import: delivered a batch at a time, and what the other apps do with them."""

import csv
import io
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from rapport.accounts.tests.factories import TeamFactory, UserFactory
from rapport.contacts.events import ContactCreated
from rapport.contacts.models import Contact
from rapport.core import events
from rapport.data_exchange.importing import jobs
from rapport.sales.assignment import create_assignment_rule
from rapport.sales.models import LeadAssignment, LeadScore

pytestmark = pytest.mark.django_db

HEADER = ["First Name", "Last Name", "Email", "Country", "Lifecycle Stage"]


def contacts_csv(rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def import_contacts(actor, rows, **kwargs):
    upload = SimpleUploadedFile("leads.csv", contacts_csv(rows), content_type="text/csv")
    job = jobs.create_import(actor=actor, entity="contact", upload=upload, **kwargs)
    return jobs.run_import(job.pk)


@dataclass(frozen=True)
class Rang:
    bell: str


def test_a_many_handler_gets_each_import_batch_whole(owner, subscriptions):
    batches, singles = [], []
    subscriptions(ContactCreated, batches.append, many=True)
    subscriptions(ContactCreated, singles.append)
    rows = [[f"Lead{i}", "Person", f"lead{i}@example.org", "DE", "lead"] for i in range(5)]
    job = import_contacts(owner, rows, batch_size=3)
    assert job.created_count == 5
    created = set(Contact.objects.values_list("pk", flat=True))
    assert [len(batch) for batch in batches] == [3, 2]
    assert {event.contact_id for batch in batches for event in batch} == created
    assert all(isinstance(event, ContactCreated) for batch in batches for event in batch)
    # A subscriber that takes one event at a time still gets them one at a time.
    assert {event.contact_id for event in singles} == created
    assert all(isinstance(event, ContactCreated) for event in singles)


def test_emit_gives_a_many_handler_a_list_of_one(subscriptions, django_capture_on_commit_callbacks):
    batches, singles = [], []
    subscriptions(Rang, batches.append, many=True)
    subscriptions(Rang, singles.append)
    with django_capture_on_commit_callbacks(execute=True):
        events.emit(Rang("first"))
        events.emit_many([Rang("second"), Rang("third")])
    assert batches == [[Rang("first")], [Rang("second"), Rang("third")]]
    assert singles == [Rang("first"), Rang("second"), Rang("third")]


def test_nothing_is_delivered_when_the_transaction_rolls_back(
    subscriptions, django_capture_on_commit_callbacks
):
    batches = []
    subscriptions(Rang, batches.append, many=True)
    with django_capture_on_commit_callbacks(execute=False) as deferred:
        events.emit_many([Rang("lost")])
    # Not run: what the test's transaction would have done on commit never happens.
    assert len(deferred) == 1 and batches == []


def test_a_failing_many_handler_does_not_stop_the_others(
    subscriptions, django_capture_on_commit_callbacks
):
    received = []

    def broken(batch):
        raise RuntimeError("subscriber bug")

    subscriptions(Rang, broken, many=True)
    subscriptions(Rang, received.append, many=True)
    with django_capture_on_commit_callbacks(execute=True):
        events.emit_many([Rang("a"), Rang("b")])
    assert received == [[Rang("a"), Rang("b")]]


def test_a_failing_subscriber_in_an_import_leaves_the_others_work(owner, subscriptions):
    received = []

    def broken(batch):
        raise RuntimeError("subscriber bug")

    subscriptions(ContactCreated, broken, many=True)
    subscriptions(ContactCreated, received.append, many=True)
    job = import_contacts(owner, [["Ada", "Lovelace", "ada@example.org", "GB", "lead"]])
    assert job.created_count == 1
    assert [[event.contact_id for event in batch] for batch in received] == [
        [Contact.objects.get().pk]
    ]


def test_events_must_be_dataclasses():
    with pytest.raises(TypeError):
        events.emit_many([{"not": "an event"}])


@pytest.fixture
def territory(admin_user, team_scope_role):
    team = TeamFactory(name="Territory DACH")
    members = [
        UserFactory(username=f"dach{i}", role=team_scope_role, teams=[team]) for i in range(2)
    ]
    create_assignment_rule(
        actor=admin_user,
        name="DACH",
        condition={"field": "country", "op": "in", "value": ["DE", "AT", "CH"]},
        target_team=team,
    )
    return members


def test_imported_leads_are_scored_and_assigned_by_the_worker(territory):
    rows = [
        ["Zoë", "Müller", "zoe@example.de", "DE", "lead"],
        ["Jonas", "Huber", "jonas@example.at", "AT", "lead"],
        ["Lena", "Keller", "lena@example.ch", "CH", "marketing_qualified"],
        ["Paid", "Customer", "paid@example.de", "DE", "customer"],
    ]
    # No importing user, no owner column: the leads arrive unowned, for the rules to place.
    job = import_contacts(None, rows, batch_size=500)
    assert job.created_count == 4
    leads = Contact.objects.exclude(lifecycle_stage="customer")
    customer = Contact.objects.get(lifecycle_stage="customer")
    assert set(LeadScore.objects.values_list("contact_id", flat=True)) == {
        lead.pk for lead in leads
    }
    assert {a.contact_id: a.rule_name for a in LeadAssignment.objects.all()} == {
        lead.pk: "DACH" for lead in leads
    }
    assert {lead.owner for lead in leads} == set(territory)
    customer.refresh_from_db()
    assert customer.owner is None


def test_imported_leads_the_importer_keeps_are_scored_not_reassigned(owner):
    job = import_contacts(
        owner,
        [["Ada", "Lovelace", "ada@example.org", "GB", "lead"]],
        options={"assign_leads_by_rules": False},
    )
    assert job.created_count == 1
    lead = Contact.objects.get()
    assert lead.owner == owner
    assert LeadScore.objects.filter(contact=lead).exists()
    assert not LeadAssignment.objects.exists()


def test_a_users_imported_leads_go_through_the_assignment_rules(territory, admin_user):
    """Issue 15, defect 11: leads a person imports without an owner column are placed by the
    assignment rules like a web form's, not all given to the importer; other stages and rows
    naming an owner stay as the file says."""
    header = [*HEADER, "Owner"]
    rows = [
        ["Zoë", "Müller", "zoe@example.de", "DE", "lead", ""],
        ["Jonas", "Huber", "jonas@example.at", "AT", "lead", ""],
        ["Named", "Owner", "named@example.de", "DE", "lead", admin_user.email],
        ["Paid", "Customer", "paid@example.de", "DE", "customer", ""],
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([header, *rows])
    upload = SimpleUploadedFile("leads.csv", buffer.getvalue().encode(), content_type="text/csv")
    job = jobs.run_import(jobs.create_import(actor=admin_user, entity="contact", upload=upload).pk)
    assert job.created_count == 4
    placed = Contact.objects.filter(last_name__in=["Müller", "Huber"])
    assert {lead.owner for lead in placed} <= set(territory)
    assert {a.contact_id: a.rule_name for a in LeadAssignment.objects.all()} == {
        lead.pk: "DACH" for lead in placed
    }
    assert Contact.objects.get(last_name="Owner").owner == admin_user
    assert Contact.objects.get(last_name="Customer").owner == admin_user


def test_an_imported_lead_no_rule_places_stays_with_the_importer(territory, owner):
    import_contacts(owner, [["Ann", "Arbor", "ann@example.com", "US", "lead"]])
    lead = Contact.objects.get()
    assert lead.owner == owner  # not left unassigned, out of the rep's own sight
    assert LeadAssignment.objects.get(contact=lead).method == "fallback"


def test_sales_queues_one_task_per_batch_and_one_per_lone_contact(owner, monkeypatch):
    from rapport.sales import subscribers, tasks

    queued = []
    # Stand-ins for the two tasks, to see what the subscriber queues (not what the tasks do).
    monkeypatch.setattr(
        tasks, "process_new_lead", SimpleNamespace(enqueue=lambda **kw: queued.append(("one", kw)))
    )
    monkeypatch.setattr(
        tasks,
        "process_new_leads",
        SimpleNamespace(enqueue=lambda **kw: queued.append(("many", kw))),
    )
    rows = [[f"Lead{i}", "Person", f"lead{i}@example.org", "DE", "lead"] for i in range(3)]
    rows.append(["Paid", "Customer", "paid@example.org", "DE", "customer"])
    import_contacts(owner, rows)
    leads = sorted(Contact.objects.filter(lifecycle_stage="lead").values_list("pk", flat=True))
    creators = {str(pk): owner.pk for pk in leads}
    assert queued == [("many", {"contact_ids": leads, "creator_ids": creators})]
    queued.clear()
    subscribers.on_contacts_created(
        [ContactCreated(contact_id=leads[0], actor_id=owner.pk, source="manual")]
    )
    assert queued == [("one", {"contact_id": leads[0], "creator_id": owner.pk})]
