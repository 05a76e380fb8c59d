"""A contact entering or leaving a segment starts a workflow: static lists as they change,
watched dynamic segments at the clock's check, and only segments a workflow watches."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from rapport.analytics import membership
from rapport.analytics.models import Segment, WatchedMember
from rapport.analytics.services import add_to_list, create_segment, remove_from_list
from rapport.automation import clock, segment_watch, workflows
from rapport.automation.models import RunStatus, WorkflowRun
from rapport.automation.tests import test_workflows as shared
from rapport.contacts.services import update_contact
from rapport.contacts.tests.factories import make_contact

pytestmark = pytest.mark.django_db

make_workflow = shared.make_workflow
on_commit = shared.on_commit

TAG = [{"type": "add_tag", "tag": "Fired"}]
CUSTOMERS = {"all": [{"field": "lifecycle_stage", "op": "in", "value": ["customer"]}]}


def _runs(workflow) -> list:
    return list(
        WorkflowRun.objects.filter(workflow=workflow)
        .order_by("record_key")
        .values_list("record_key", "status", "trigger_summary")
    )


def _later(minutes: int) -> dt.datetime:
    return timezone.now() + dt.timedelta(minutes=minutes)


def test_a_watched_dynamic_segment_fires_for_who_enters_and_who_leaves(
    make_workflow, admin_user, owner, on_commit
):
    segment = create_segment(actor=admin_user, name="Customers", conditions=CUSTOMERS)
    ada = make_contact(actor=owner, owner=owner, first_name="Ada", lifecycle_stage="customer")
    bob = make_contact(actor=owner, owner=owner, first_name="Bob", lifecycle_stage="lead")
    entered = make_workflow({"type": "segment_entered", "segment": str(segment.pk)}, TAG)
    left = make_workflow({"type": "segment_left", "segment": str(segment.pk)}, TAG)

    # The first check only records: Ada was in it before anyone watched.
    with on_commit():
        assert clock.tick(now=_later(1))["segments"] == {"segments": 1, "entered": 0, "left": 0}
    assert _runs(entered) == [] and _runs(left) == []
    assert set(WatchedMember.objects.values_list("contact_id", flat=True)) == {ada.pk}

    with on_commit():
        update_contact(actor=owner, contact=bob, lifecycle_stage="customer")
        update_contact(actor=owner, contact=ada, lifecycle_stage="churned")
    assert _runs(entered) == []  # a change alone does not fire: the check does
    with on_commit():
        result = clock.tick(now=_later(2))
    assert result["segments"] == {"segments": 1, "entered": 1, "left": 1}
    assert _runs(entered) == [(f"contact:{bob.pk}", RunStatus.COMPLETED, "Entered “Customers”")]
    assert _runs(left) == [(f"contact:{ada.pk}", RunStatus.COMPLETED, "Left “Customers”")]
    assert list(bob.tags.values_list("name", flat=True)) == ["Fired"]

    # Nothing changed: the next check fires nothing again.
    with on_commit():
        assert clock.tick(now=_later(3))["segments"]["entered"] == 0
    assert len(_runs(entered)) == 1


def test_a_segment_nobody_watches_is_not_checked_and_its_record_is_forgotten(
    make_workflow, admin_user, owner, on_commit
):
    segment = create_segment(actor=admin_user, name="Customers", conditions=CUSTOMERS)
    make_contact(actor=owner, owner=owner, lifecycle_stage="customer")
    assert segment_watch.watched_segment_ids() == set()
    clock.tick(now=_later(1))
    assert not WatchedMember.objects.exists()

    workflow = make_workflow({"type": "segment_entered", "segment": str(segment.pk)}, TAG)
    clock.tick(now=_later(2))
    assert WatchedMember.objects.count() == 1
    workflows.deactivate_workflow(actor=admin_user, workflow=workflow)
    clock.tick(now=_later(3))
    assert not WatchedMember.objects.exists()
    assert Segment.objects.get(pk=segment.pk).members_checked_at is None


def test_two_checks_at_once_emit_once(admin_user, owner, django_capture_on_commit_callbacks):
    from rapport.analytics.events import SegmentEntered
    from rapport.core import events

    segment = create_segment(actor=admin_user, name="Customers", conditions=CUSTOMERS)
    membership.check(segment, now=_later(1))  # the first check records
    make_contact(actor=owner, owner=owner, lifecycle_stage="customer")
    seen = []
    events.subscribe(SegmentEntered, seen.extend, many=True)
    try:
        stale = Segment.objects.get(pk=segment.pk)
        second = Segment.objects.get(pk=segment.pk)
        with django_capture_on_commit_callbacks(execute=True):
            assert membership.check(stale, now=_later(2)) == (1, 0)
            # The other tick read the segment before the first took it: it finds it taken.
            assert membership.check(second, now=_later(2)) == (0, 0)
    finally:
        events._subscribers[SegmentEntered].remove(seen.extend)
    assert [e.segment_id for e in seen] == [segment.pk]


def test_a_static_list_fires_as_contacts_are_added_and_removed(
    make_workflow, admin_user, owner, on_commit
):
    vip = create_segment(actor=admin_user, name="VIP", kind="static")
    other = create_segment(actor=admin_user, name="Other", kind="static")
    ada = make_contact(actor=owner, owner=owner, first_name="Ada")
    entered = make_workflow({"type": "segment_entered", "segment": str(vip.pk)}, TAG)
    left = make_workflow({"type": "segment_left", "segment": str(vip.pk)}, TAG)
    with on_commit():
        add_to_list(actor=admin_user, segment=other, contact_ids=[ada.pk])
    assert _runs(entered) == []
    with on_commit():
        add_to_list(actor=admin_user, segment=vip, contact_ids=[ada.pk])
        add_to_list(actor=admin_user, segment=vip, contact_ids=[ada.pk])  # already on it
    assert _runs(entered) == [(f"contact:{ada.pk}", RunStatus.COMPLETED, "Entered “VIP”")]
    with on_commit():
        remove_from_list(actor=admin_user, segment=vip, contact_ids=[ada.pk])
    assert _runs(left) == [(f"contact:{ada.pk}", RunStatus.COMPLETED, "Left “VIP”")]


def test_the_trigger_needs_a_segment_and_says_which_in_words(make_workflow, admin_user):
    from rapport.automation import triggers

    errors: dict = {}
    assert triggers.clean_trigger({"type": "segment_entered"}, "contact", errors) == {
        "type": "segment_entered"
    }
    assert "trigger.segment" in errors
    segment = create_segment(actor=admin_user, name="Customers", conditions=CUSTOMERS)
    words = triggers.describe({"type": "segment_left", "segment": str(segment.pk)}, "contact")
    assert words == "The contact leaves “Customers”"
    errors = {}
    triggers.clean_trigger({"type": "segment_entered"}, "deal", errors)
    assert "trigger.type" in errors  # contacts only


def test_many_entering_at_once_are_enrolled_in_one_go_and_queued_in_chunks(
    make_workflow, admin_user, owner, settings, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    from rapport.automation import runner, tasks

    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    vip = create_segment(actor=admin_user, name="VIP", kind="static")
    make_workflow({"type": "segment_entered", "segment": str(vip.pk)}, TAG)
    ids = [make_contact(actor=owner, owner=owner).pk for _ in range(runner.RUNS_PER_TASK + 7)]
    with django_capture_on_commit_callbacks(execute=True):
        add_to_list(actor=admin_user, segment=vip, contact_ids=ids)
    assert WorkflowRun.objects.filter(status=RunStatus.QUEUED).count() == len(ids)
    chunks = [
        row.args_kwargs["kwargs"]["workflow_run_ids"]
        for row in DBTaskResult.objects.filter(task_path=tasks.run_workflows.module_path)
    ]
    assert sorted(len(chunk) for chunk in chunks) == [7, runner.RUNS_PER_TASK]
    assert sorted(pk for chunk in chunks for pk in chunk) == sorted(
        WorkflowRun.objects.values_list("pk", flat=True)
    )


def test_a_first_check_that_cannot_evaluate_leaves_the_next_one_first(admin_user, owner):
    # Otherwise the next check would take everyone in the segment for a newcomer.
    segment = create_segment(actor=admin_user, name="Customers", conditions=CUSTOMERS)
    make_contact(actor=owner, owner=owner, lifecycle_stage="customer")
    broken = {"all": [{"field": "custom.gone", "op": "eq", "value": "x"}]}
    Segment.objects.filter(pk=segment.pk).update(conditions=broken)
    assert membership.check(Segment.objects.get(pk=segment.pk), now=_later(1)) == (0, 0)
    assert Segment.objects.get(pk=segment.pk).members_checked_at is None

    Segment.objects.filter(pk=segment.pk).update(conditions=CUSTOMERS)
    assert membership.check(Segment.objects.get(pk=segment.pk), now=_later(2)) == (0, 0)
    assert WatchedMember.objects.filter(segment=segment).count() == 1


def test_who_was_in_before_anyone_watched_has_no_entry_date(admin_user, owner):
    segment = create_segment(actor=admin_user, name="Customers", conditions=CUSTOMERS)
    ada = make_contact(actor=owner, owner=owner, lifecycle_stage="customer")
    membership.check(segment, now=_later(1))
    bob = make_contact(actor=owner, owner=owner, lifecycle_stage="customer")
    membership.check(Segment.objects.get(pk=segment.pk), now=_later(2))
    dates = dict(WatchedMember.objects.values_list("contact_id", "entered_at"))
    # Growth figures ("joined in the last 30 days") count Bob, not Ada.
    assert dates[ada.pk] is None
    assert dates[bob.pk] is not None


def test_two_overlapping_checks_emit_each_entry_and_exit_once(
    make_workflow, admin_user, owner, on_commit, monkeypatch
):
    """A check longer than the clock's tick meets the next one: both compute the same newcomers
    from the same stored members, and only the one that records a row emits it."""
    segment = create_segment(actor=admin_user, name="Customers", conditions=CUSTOMERS)
    ada = make_contact(actor=owner, owner=owner, first_name="Ada", lifecycle_stage="customer")
    bob = make_contact(actor=owner, owner=owner, first_name="Bob", lifecycle_stage="lead")
    entered = make_workflow({"type": "segment_entered", "segment": str(segment.pk)}, TAG)
    left = make_workflow({"type": "segment_left", "segment": str(segment.pk)}, TAG)
    with on_commit():
        clock.tick(now=_later(1))
    with on_commit():
        update_contact(actor=owner, contact=bob, lifecycle_stage="customer")
        update_contact(actor=owner, contact=ada, lifecycle_stage="churned")

    # The other check got there first: it recorded Bob and removed Ada after this one read.
    real_insert, real_delete = membership._insert_members, membership._delete_members

    def insert_after_the_other(segment_id, contact_ids, now):
        real_insert(segment_id, contact_ids, now)
        return real_insert(segment_id, contact_ids, now)

    def delete_after_the_other(segment_id, contact_ids):
        real_delete(segment_id, contact_ids)
        return real_delete(segment_id, contact_ids)

    monkeypatch.setattr(membership, "_insert_members", insert_after_the_other)
    monkeypatch.setattr(membership, "_delete_members", delete_after_the_other)
    with on_commit():
        result = clock.tick(now=_later(2))

    assert result["segments"] == {"segments": 1, "entered": 0, "left": 0}
    assert _runs(entered) == [] and _runs(left) == []
    assert set(WatchedMember.objects.values_list("contact_id", flat=True)) == {bob.pk}
