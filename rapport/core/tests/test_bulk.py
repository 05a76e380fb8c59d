"""Bulk actions: the framework (core.bulk), the actions of contacts, sales and analytics, the
worker task, the pages and the API."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.analytics import services as analytics_services
from rapport.audit.models import ChangeRecord
from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core import bulk
from rapport.core.models import BulkOperation, BulkOperationItem
from rapport.customfields.services import create_definition
from rapport.sales.assignment import create_assignment_rule
from rapport.sales.models import Deal, Task
from rapport.sales.services.deals import create_deal
from rapport.sales.services.pipelines import create_pipeline

pytestmark = pytest.mark.django_db


@pytest.fixture
def read_only_user(sales_team):
    role = RoleFactory(name="Viewer", is_read_only=True, scopes={"contacts": "all", "sales": "all"})
    return UserFactory(username="viewer", role=role, teams=[sales_team])


@pytest.fixture
def book(owner, teammate, outsider):
    """Three contacts of the owner's team, one without owner-team reach, one of an outsider."""
    return {
        "mine": make_contact(actor=owner, owner=owner, first_name="Mia", tags=["vip"]),
        "mine2": make_contact(actor=owner, owner=owner, first_name="Max"),
        "teammates": make_contact(actor=teammate, owner=teammate, first_name="Tia", tags=["vip"]),
        "outsiders": make_contact(
            actor=outsider, owner=outsider, first_name="Otto", tags=["vip"], city="Oslo"
        ),
    }


def owners_of(*contacts):
    return [Contact.objects.get(pk=c.pk).owner_id for c in contacts]


def test_assign_owner_changes_only_records_in_scope_even_when_outsider_ids_are_sent(
    owner, teammate, outsider, book
):
    ids = [book["mine"].pk, book["mine2"].pk, book["outsiders"].pk, 987654]

    operation = bulk.start(
        actor=owner,
        entity_key="contacts",
        action_key="assign_owner",
        params={"owner": teammate.pk},
        ids=ids,
    )

    assert operation.status == BulkOperation.Status.DONE
    assert (operation.total, operation.done) == (4, 4)
    assert (operation.changed, operation.skipped, operation.failed) == (2, 2, 0)
    assert operation.reasons == {"skipped: not yours": 2}
    assert owners_of(book["mine"], book["mine2"]) == [teammate.pk, teammate.pk]
    assert owners_of(book["outsiders"]) == [outsider.pk]
    # Each service wrote its own record, stamped with the operation's request id, and the
    # operation wrote one summary; nothing was written for the outsider's contact.
    records = ChangeRecord.objects.filter(request_id=operation.request_id)
    assert sorted(
        records.filter(entity="contacts.contact").values_list("object_id", flat=True)
    ) == (sorted([str(book["mine"].pk), str(book["mine2"].pk)]))
    summary = records.get(entity="core.bulkoperation")
    assert summary.object_id == str(operation.pk)
    assert summary.after["changed"] == 2 and summary.after["skipped"] == 2
    assert not ChangeRecord.objects.filter(
        entity="contacts.contact",
        object_id=str(book["outsiders"].pk),
        request_id=operation.request_id,
    ).exists()


def test_select_all_that_match_takes_the_list_filter_within_the_actors_scope(owner, book):
    operation = bulk.start(
        actor=owner,
        entity_key="contacts",
        action_key="add_tag",
        params={"tag": "Q4 push"},
        list_key="contacts",
        list_params={"tag": ["vip"]},
    )

    # The owner's team sees its own two vip contacts; the outsider's vip is not a member at all.
    assert sorted(operation.member_ids) == sorted([book["mine"].pk, book["teammates"].pk])
    assert operation.changed == 2
    tagged = Contact.objects.filter(tags__name="Q4 push").values_list("pk", flat=True)
    assert sorted(tagged) == sorted([book["mine"].pk, book["teammates"].pk])
    assert operation.selection == {"list": "contacts", "params": {"tag": ["vip"]}}


def test_undo_assign_owner_gives_the_records_back(owner, teammate, book):
    operation = bulk.start(
        actor=owner,
        entity_key="contacts",
        action_key="assign_owner",
        params={"owner": teammate.pk},
        ids=[book["mine"].pk, book["teammates"].pk],
    )
    assert (operation.changed, operation.skipped) == (1, 1)
    assert operation.reasons == {"skipped: already theirs": 1}

    undone = bulk.start_undo(actor=owner, operation=operation)

    assert undone.status == BulkOperation.Status.UNDONE
    assert undone.undone == 1
    assert owners_of(book["mine"], book["teammates"]) == [owner.pk, teammate.pk]
    assert not bulk.can_undo(owner, undone)


def test_only_the_actor_may_undo(owner, teammate, book):
    operation = bulk.start(
        actor=owner,
        entity_key="contacts",
        action_key="archive",
        ids=[book["mine"].pk],
    )
    with pytest.raises(PermissionDenied):
        bulk.start_undo(actor=teammate, operation=operation)
    assert Contact.objects.get(pk=book["mine"].pk).is_archived is True


def test_tags_add_and_remove_with_undo(owner, book):
    removed = bulk.start(
        actor=owner,
        entity_key="contacts",
        action_key="remove_tag",
        params={"tag": "VIP"},
        ids=[book["mine"].pk, book["mine2"].pk],
    )
    assert (removed.changed, removed.skipped) == (1, 1)
    assert removed.reasons == {"skipped: not tagged": 1}
    assert not Contact.objects.get(pk=book["mine"].pk).tags.exists()

    bulk.start_undo(actor=owner, operation=removed)

    assert list(Contact.objects.get(pk=book["mine"].pk).tags.values_list("name", flat=True)) == [
        "vip"
    ]


def test_set_a_standard_field_and_undo(owner, book):
    operation = bulk.start(
        actor=owner,
        entity_key="contacts",
        action_key="set_field",
        params={"field": "city", "value": "Berlin"},
        ids=[book["mine"].pk, book["mine2"].pk],
    )
    assert operation.changed == 2
    assert set(
        Contact.objects.filter(pk__in=operation.member_ids).values_list("city", flat=True)
    ) == {"Berlin"}
    bulk.start_undo(actor=owner, operation=operation)
    assert set(
        Contact.objects.filter(pk__in=operation.member_ids).values_list("city", flat=True)
    ) == {""}


def test_set_a_custom_field_is_validated_before_anything_runs(owner, admin_user, book):
    create_definition(
        actor=admin_user, entity="contact", key="seats", label="Seats", field_type="number"
    )
    with pytest.raises(ValidationError) as refused:
        bulk.start(
            actor=owner,
            entity_key="contacts",
            action_key="set_field",
            params={"field": "custom_fields.seats", "value": "many"},
            ids=[book["mine"].pk],
        )
    assert "value" in refused.value.message_dict
    assert not BulkOperation.objects.exists()

    operation = bulk.start(
        actor=owner,
        entity_key="contacts",
        action_key="set_field",
        params={"field": "custom_fields.seats", "value": "12"},
        ids=[book["mine"].pk],
    )
    assert operation.changed == 1
    assert Contact.objects.get(pk=book["mine"].pk).custom_fields["seats"] == 12


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "owner"),
        ({"owner": "nobody"}, "owner"),
        ({"owner": 99999}, "owner"),
    ],
)
def test_bad_parameters_name_the_field(owner, book, params, field):
    with pytest.raises(ValidationError) as refused:
        bulk.start(
            actor=owner,
            entity_key="contacts",
            action_key="assign_owner",
            params=params,
            ids=[book["mine"].pk],
        )
    assert field in refused.value.message_dict


def test_bad_selection_and_unknown_action_are_clear_errors(owner, book):
    with pytest.raises(ValidationError) as refused:
        bulk.start(actor=owner, entity_key="contacts", action_key="explode", ids=[1])
    assert "action" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        bulk.start(actor=owner, entity_key="contacts", action_key="archive", ids=["x1"])
    assert "ids" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        bulk.start(
            actor=owner,
            entity_key="contacts",
            action_key="archive",
            ids=[book["mine"].pk],
            list_key="contacts",
        )
    assert "ids" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        bulk.start(
            actor=owner,
            entity_key="contacts",
            action_key="archive",
            list_key="contacts",
            list_params={"lifecycle_stage": ["nonsense"]},
        )
    assert "lifecycle_stage" in refused.value.message_dict


def test_a_read_only_seat_may_not_start(read_only_user, book):
    with pytest.raises(PermissionDenied):
        bulk.start(
            actor=read_only_user,
            entity_key="contacts",
            action_key="archive",
            ids=[book["mine"].pk],
        )
    assert Contact.objects.get(pk=book["mine"].pk).is_archived is False


def test_archive_and_restore_organizations(owner, outsider):
    ours = make_organization(actor=owner, owner=owner, name="Ours GmbH")
    theirs = make_organization(actor=outsider, owner=outsider, name="Theirs AB")

    operation = bulk.start(
        actor=owner, entity_key="organizations", action_key="archive", ids=[ours.pk, theirs.pk]
    )

    assert (operation.changed, operation.skipped) == (1, 1)
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert (ours.is_archived, theirs.is_archived) == (True, False)
    bulk.start_undo(actor=owner, operation=operation)
    ours.refresh_from_db()
    assert ours.is_archived is False


def test_create_a_task_for_each_owner(owner, teammate, admin_user, book):
    # An administrator sees records nobody owns (a rep's scope does not reach them).
    nobodys = make_contact(actor=admin_user, owner=None, first_name="Nell")
    due = (timezone.localdate() + dt.timedelta(days=3)).isoformat()

    operation = bulk.start(
        actor=admin_user,
        entity_key="contacts",
        action_key="create_task",
        params={"title": "Call about renewal", "due_on": due, "priority": "high"},
        ids=[book["mine"].pk, book["teammates"].pk, nobodys.pk],
    )

    assert (operation.changed, operation.skipped) == (2, 1)
    assert operation.reasons == {"skipped: has no owner": 1}
    tasks = Task.objects.filter(title="Call about renewal").order_by("contact_id")
    assert [(t.contact_id, t.assignee_id, t.priority) for t in tasks] == [
        (book["mine"].pk, owner.pk, "high"),
        (book["teammates"].pk, teammate.pk, "high"),
    ]
    bulk.start_undo(actor=admin_user, operation=operation)
    assert not Task.objects.filter(title="Call about renewal").exists()


def test_add_to_segment_and_undo(owner, book):
    segment = analytics_services.create_segment(actor=owner, name="Q4 list", kind="static")
    analytics_services.add_to_list(actor=owner, segment=segment, contact_ids=[book["mine"].pk])

    operation = bulk.start(
        actor=owner,
        entity_key="contacts",
        action_key="add_to_segment",
        params={"segment": segment.pk},
        ids=[book["mine"].pk, book["mine2"].pk, book["outsiders"].pk],
    )

    assert (operation.changed, operation.skipped) == (1, 2)
    assert operation.reasons == {"skipped: already in the segment": 1, "skipped: not yours": 1}
    members = set(segment.memberships.values_list("contact_id", flat=True))
    assert members == {book["mine"].pk, book["mine2"].pk}
    bulk.start_undo(actor=owner, operation=operation)
    assert set(segment.memberships.values_list("contact_id", flat=True)) == {book["mine"].pk}


def test_the_segment_list_selects_its_members(owner, book):
    segment = analytics_services.create_segment(actor=owner, name="Key", kind="static")
    analytics_services.add_to_list(
        actor=owner, segment=segment, contact_ids=[book["mine"].pk, book["mine2"].pk]
    )
    operation = bulk.start(
        actor=owner,
        entity_key="contacts",
        action_key="set_lifecycle_stage",
        params={"stage": "customer"},
        list_key="segment",
        list_params={"segment": [str(segment.pk)]},
    )
    assert operation.changed == 2
    assert set(
        Contact.objects.filter(pk__in=[book["mine"].pk, book["mine2"].pk]).values_list(
            "lifecycle_stage", flat=True
        )
    ) == {"customer"}


@pytest.fixture
def pipeline(admin_user):
    return create_pipeline(actor=admin_user, name="New business", currency="EUR")


def _deal(owner, pipeline, name):
    return create_deal(
        actor=owner,
        owner=owner,
        name=name,
        pipeline=pipeline,
        amount="1000.00",
        expected_close_date=timezone.localdate() + dt.timedelta(days=20),
    )


def test_deals_move_to_stage_with_undo_and_archive(owner, outsider, pipeline):
    ours = _deal(owner, pipeline, "Ours")
    theirs = _deal(outsider, pipeline, "Theirs")
    target = pipeline.stages.order_by("position")[1]

    moved = bulk.start(
        actor=owner,
        entity_key="deals",
        action_key="move_to_stage",
        params={"stage": target.pk},
        ids=[ours.pk, theirs.pk],
    )

    assert (moved.changed, moved.skipped) == (1, 1)
    first_stage = theirs.stage_id
    assert Deal.objects.get(pk=ours.pk).stage_id == target.pk
    assert Deal.objects.get(pk=theirs.pk).stage_id == first_stage
    bulk.start_undo(actor=owner, operation=moved)
    assert Deal.objects.get(pk=ours.pk).stage_id == first_stage

    archived = bulk.start(actor=owner, entity_key="deals", action_key="archive", ids=[ours.pk])
    assert archived.changed == 1 and Deal.objects.get(pk=ours.pk).is_archived
    assert not bulk.can_undo(owner, archived)


def test_leads_by_the_assignment_rules(owner, teammate, admin_user):
    create_assignment_rule(
        actor=admin_user, name="All to teammate", condition={}, target_user=teammate
    )
    lead = make_contact(actor=owner, owner=owner, first_name="Lena", lifecycle_stage="lead")
    customer = make_contact(actor=owner, owner=owner, first_name="Cora", lifecycle_stage="customer")

    operation = bulk.start(
        actor=owner,
        entity_key="contacts",
        action_key="assign_by_rules",
        ids=[lead.pk, customer.pk],
    )

    assert (operation.changed, operation.failed) == (1, 1)
    assert operation.reasons == {"failed: contact: Only leads are assigned by the rules.": 1}
    assert owners_of(lead, customer) == [teammate.pk, owner.pk]


def test_export_streams_the_members_with_formulas_neutralized(owner, web_client_for, book):
    risky = make_contact(actor=owner, owner=owner, first_name="=HYPERLINK(1)")
    operation = bulk.start(
        actor=owner,
        entity_key="contacts",
        action_key="export",
        ids=[risky.pk, book["outsiders"].pk],
    )
    assert (operation.changed, operation.skipped) == (1, 1)

    response = web_client_for(owner).get(f"/bulk/operations/{operation.pk}/download.csv")

    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 2  # the header and the one contact in scope
    assert "'=HYPERLINK(1)" in rows[1]


# --- the worker ----------------------------------------------------------------------------


def test_a_large_selection_runs_in_the_worker_after_commit(
    owner, teammate, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(bulk, "CHUNK_SIZE", 2)
    contacts = [make_contact(actor=owner, owner=owner, first_name=f"P{i}") for i in range(5)]

    with django_capture_on_commit_callbacks(execute=True):
        operation = bulk.start(
            actor=owner,
            entity_key="contacts",
            action_key="assign_owner",
            params={"owner": teammate.pk},
            ids=[c.pk for c in contacts],
            inline=False,
        )
        assert operation.status == BulkOperation.Status.QUEUED

    operation.refresh_from_db()
    assert operation.status == BulkOperation.Status.DONE
    assert (operation.done, operation.changed) == (5, 5)
    assert set(owners_of(*contacts)) == {teammate.pk}


def test_an_interrupted_operation_resumes_without_changing_anything_twice(
    owner, teammate, monkeypatch
):
    monkeypatch.setattr(bulk, "CHUNK_SIZE", 2)
    contacts = [make_contact(actor=owner, owner=owner, first_name=f"R{i}") for i in range(5)]
    chosen = bulk.action("contacts", "assign_owner")
    calls = {"n": 0}
    original = type(chosen).run

    def dies_on_the_second_chunk(self, actor, queryset, params, progress):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return original(self, actor, queryset, params, progress)

    monkeypatch.setattr(type(chosen), "run", dies_on_the_second_chunk)
    operation = bulk.start(
        actor=owner,
        entity_key="contacts",
        action_key="assign_owner",
        params={"owner": teammate.pk},
        ids=[c.pk for c in contacts],
        inline=False,
    )
    with pytest.raises(RuntimeError):
        bulk.execute(operation.pk)
    operation.refresh_from_db()
    # The first chunk committed with its items; the second rolled back whole.
    assert (operation.status, operation.done) == (BulkOperation.Status.FAILED, 2)
    assert operation.error == "Stopped after 2 records: RuntimeError."
    assert owners_of(*contacts) == [teammate.pk] * 2 + [owner.pk] * 3

    bulk.execute(operation.pk)
    bulk.execute(operation.pk)  # a second delivery of the same task changes nothing

    operation.refresh_from_db()
    assert (operation.status, operation.done, operation.changed) == ("done", 5, 5)
    assert operation.error == ""
    assert BulkOperationItem.objects.filter(operation=operation).count() == 5
    for contact in contacts:
        assert (
            ChangeRecord.objects.filter(
                entity="contacts.contact",
                object_id=str(contact.pk),
                request_id=operation.request_id,
            ).count()
            == 1
        )
    assert ChangeRecord.objects.filter(entity="core.bulkoperation").count() == 1


# --- pages ---------------------------------------------------------------------------------


def test_the_contact_list_shows_the_selection_bar_to_writers_only(
    owner, read_only_user, web_client_for, book
):
    page = web_client_for(owner).get("/contacts/?view=all").content.decode()
    assert "data-bulk-bar" in page and 'action="/bulk/contacts/"' in page
    assert "js/bulk-select.js" in page
    hidden = web_client_for(read_only_user).get("/contacts/?view=all").content.decode()
    assert "data-bulk-bar" not in hidden


def test_starting_from_the_page_redirects_to_the_operation(owner, teammate, web_client_for, book):
    client = web_client_for(owner)
    response = client.post(
        "/bulk/contacts/",
        {
            "action": "assign_owner",
            "params-owner": str(teammate.pk),
            "scope": "all",
            "list": "contacts",
            "filter": "tag=vip",
        },
    )
    operation = BulkOperation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/bulk/operations/{operation.pk}/"
    assert operation.changed == 1 and operation.skipped == 1  # the teammate's was theirs already
    page = client.get(response["Location"]).content.decode()
    assert "Undo" in page and "Skipped: already theirs: 1" in page
    fragment = client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert fragment.startswith('<div id="bulk-progress"') and "every 1s" not in fragment


def test_a_bad_start_from_the_page_is_a_422_naming_the_field(owner, web_client_for, book):
    response = web_client_for(owner).post(
        "/bulk/contacts/", {"action": "assign_owner", "ids": [str(book["mine"].pk)]}
    )
    assert response.status_code == 422
    assert "owner: This field is required." in response.content.decode()


def test_someone_elses_operation_is_not_found(owner, teammate, web_client_for, book):
    operation = bulk.start(
        actor=owner, entity_key="contacts", action_key="archive", ids=[book["mine"].pk]
    )
    client = web_client_for(teammate)
    assert client.get(f"/bulk/operations/{operation.pk}/").status_code == 404
    assert client.post(f"/bulk/operations/{operation.pk}/undo/").status_code == 404
    assert Contact.objects.get(pk=book["mine"].pk).is_archived is True


def test_the_action_fields_partial(owner, web_client_for):
    page = web_client_for(owner).get("/bulk/deals/fields/?action=move_to_stage").content.decode()
    assert 'name="params-stage"' in page and 'name="params-lost_reason"' in page


# --- API -----------------------------------------------------------------------------------


def test_api_starts_an_operation_and_reports_it(owner, teammate, outsider, api_client_for, book):
    client = api_client_for(owner)
    response = client.post(
        "/api/v1/bulk/contacts",
        {
            "action": "assign_owner",
            "params": {"owner": teammate.pk},
            "ids": [book["mine"].pk, book["outsiders"].pk],
        },
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["changed"], body["skipped"]) == ("done", 1, 1)
    assert body["reasons"] == {"skipped: not yours": 1}
    assert owners_of(book["outsiders"]) == [outsider.pk]

    fetched = client.get(f"/api/v1/bulk/operations/{body['id']}")
    assert fetched.status_code == 200 and fetched.json()["can_undo"] is True
    assert api_client_for(outsider).get(f"/api/v1/bulk/operations/{body['id']}").status_code == 404

    undone = client.post(f"/api/v1/bulk/operations/{body['id']}/undo")
    assert undone.status_code == 202 and undone.json()["status"] == "undone"
    assert owners_of(book["mine"]) == [owner.pk]


def test_api_filter_selection(owner, api_client_for, book):
    response = api_client_for(owner).post(
        "/api/v1/bulk/contacts",
        {"action": "archive", "filter": {"list": "contacts", "params": {"tag": "vip"}}},
        content_type="application/json",
    )
    assert response.status_code == 202
    assert response.json()["total"] == 2
    assert Contact.objects.get(pk=book["outsiders"].pk).is_archived is False


@pytest.mark.parametrize("entity", ["contacts", "contact", "planets"])
def test_api_refuses_a_read_only_seat(read_only_user, api_client_for, book, entity):
    response = api_client_for(read_only_user).post(
        f"/api/v1/bulk/{entity}",
        {"action": "archive", "ids": [book["mine"].pk]},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not BulkOperation.objects.exists()
    assert Contact.objects.get(pk=book["mine"].pk).is_archived is False


def test_api_names_an_entity_by_its_noun_too(owner, api_client_for, book):
    response = api_client_for(owner).post(
        "/api/v1/bulk/contact",
        {"action": "archive", "ids": [book["mine"].pk]},
        content_type="application/json",
    )
    assert response.status_code == 202
    assert response.json()["entity"] == "contacts"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "explode", "ids": [1]}, "action"),
        ({"action": "archive"}, "ids"),
        ({"action": "archive", "ids": [0]}, "ids"),
        ({"action": "assign_owner", "ids": [1], "params": {"owner": "x"}}, "owner"),
        ({"action": "archive", "filter": {"list": "nope"}}, "filter.list"),
    ],
)
def test_api_bad_input_is_a_422_naming_the_field(owner, api_client_for, body, field):
    response = api_client_for(owner).post(
        "/api/v1/bulk/contacts", body, content_type="application/json"
    )
    assert response.status_code == 422, response.content
    fields = [error["field"] for error in response.json()["errors"]]
    assert any(field in name for name in fields), fields


def test_api_unknown_entity(owner, api_client_for):
    response = api_client_for(owner).post(
        "/api/v1/bulk/planets", {"action": "archive", "ids": [1]}, content_type="application/json"
    )
    assert response.status_code == 422


# --- the other lists -----------------------------------------------------------------------


def test_the_leads_list_filter_and_its_bar(owner, teammate, web_client_for):
    mine = make_contact(actor=owner, owner=owner, first_name="Lea", lifecycle_stage="lead")
    make_contact(actor=owner, owner=teammate, first_name="Tom", lifecycle_stage="lead")
    make_contact(actor=owner, owner=owner, first_name="Cy", lifecycle_stage="customer")

    operation = bulk.start(
        actor=owner,
        entity_key="leads",
        action_key="set_lifecycle_stage",
        params={"stage": "sales_qualified"},
        list_key="leads",
        list_params={"view": ["mine"]},
    )

    assert operation.member_ids == [mine.pk]
    assert Contact.objects.get(pk=mine.pk).lifecycle_stage == "sales_qualified"
    page = web_client_for(owner).get("/sales/leads/?view=all").content.decode()
    # The leads list does not count its rows: the bar counts what "select all" would take.
    assert "Select all 2 leads that match" in page
    assert 'name="filter" value="view=all"' in page


def test_the_deals_list_and_the_records_behind_a_kpi(owner, outsider, pipeline):
    ours = _deal(owner, pipeline, "Ours")
    other = _deal(owner, pipeline, "Other")
    theirs = _deal(outsider, pipeline, "Theirs")
    lost = pipeline.stages.get(kind="lost")
    for deal in (ours, theirs):
        bulk.start(
            actor=deal.owner,
            entity_key="deals",
            action_key="move_to_stage",
            params={"stage": lost.pk},
            ids=[deal.pk],
        )

    by_name = bulk.members_of_list(owner, "deals", {"q": ["oth"]}, "deals")
    assert list(by_name.values_list("pk", flat=True)) == [other.pk]
    behind = bulk.members_of_list(owner, "kpi_deals", {"kpi": ["win_rate"]}, "deals")
    # The lost deals behind the win rate, as far as the owner may see them.
    assert list(behind.values_list("pk", flat=True)) == [ours.pk]
    with pytest.raises(ValidationError) as refused:
        bulk.members_of_list(owner, "kpi_contacts", {"kpi": ["win_rate"]}, "contacts")
    assert "kpi" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        bulk.members_of_list(owner, "deals", {"status": ["maybe"]}, "deals")
    assert "status" in refused.value.message_dict


def test_the_organization_list_and_the_segment_page_show_the_bar(owner, web_client_for, book):
    make_organization(actor=owner, owner=owner, name="Bar AG")
    segment = analytics_services.create_segment(actor=owner, name="Shown", kind="static")
    analytics_services.add_to_list(actor=owner, segment=segment, contact_ids=[book["mine"].pk])
    client = web_client_for(owner)

    organizations = client.get("/organizations/?view=all").content.decode()
    assert 'action="/bulk/organizations/"' in organizations
    members = client.get(f"/analytics/segments/{segment.pk}/").content.decode()
    assert 'action="/bulk/contacts/"' in members
    assert f'name="filter" value="segment={segment.pk}"' in members
    assert 'name="list" value="segment"' in members


@pytest.mark.django_db(transaction=True)
def test_the_real_worker_runs_a_queued_operation_and_stamps_its_audit(settings, owner, teammate):
    from django.core.management import call_command
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    contacts = [make_contact(actor=owner, owner=owner, first_name=f"Q{i}") for i in range(3)]
    operation = bulk.start(
        actor=owner,
        entity_key="contacts",
        action_key="assign_owner",
        params={"owner": teammate.pk},
        ids=[c.pk for c in contacts],
        inline=False,
    )
    # Queued, not run: nothing changes until a worker picks it up.
    queued = DBTaskResult.objects.filter(task_path="rapport.core.tasks_bulk.run_bulk_operation")
    assert queued.filter(status="READY").count() == 1
    assert set(owners_of(*contacts)) == {owner.pk}

    call_command("worker", batch=True)

    operation.refresh_from_db()
    task = queued.get()
    assert (task.status, operation.status, operation.changed) == ("SUCCESSFUL", "done", 3)
    assert operation.task_id == str(task.id)
    stamped = ChangeRecord.objects.filter(
        entity="contacts.contact", request_id=operation.request_id
    )
    assert stamped.count() == 3
    assert set(stamped.values_list("task_id", flat=True)) == {str(task.id)}
    assert set(stamped.values_list("source", flat=True)) == {"task"}


def test_one_broken_record_fails_alone(owner, teammate, book, monkeypatch):
    # Adding a tag goes record by record (assigning an owner goes a chunk at a time).
    chosen = bulk.action("contacts", "add_tag")
    original = type(chosen).apply
    broken = book["mine2"].pk

    def breaks_on_one(self, actor, record, params):
        if record.pk == broken:
            raise LookupError("a bug")
        return original(self, actor, record, params)

    monkeypatch.setattr(type(chosen), "apply", breaks_on_one)
    operation = bulk.start(
        actor=owner,
        entity_key="contacts",
        action_key="add_tag",
        params={"tag": "gold"},
        ids=[book["mine"].pk, broken],
    )

    assert (operation.status, operation.changed, operation.failed) == ("done", 1, 1)
    assert operation.reasons == {"failed: unexpected error (LookupError)": 1}
    assert sorted(t.name for t in book["mine"].tags.all()) == ["gold", "vip"]
    assert "gold" not in {t.name for t in book["mine2"].tags.all()}
