"""Bulk work that scores and assigns its leads itself (the demo builder) queues no task per
record: the worker would repeat all of it after the build."""

from types import SimpleNamespace

import pytest

from rapport.contacts import services as contacts
from rapport.core.context import work_context
from rapport.sales import tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    found = []
    for name in ("process_new_lead", "process_new_leads", "score_lead", "assign_new_records"):
        monkeypatch.setattr(
            tasks, name, SimpleNamespace(enqueue=lambda name=name, **kw: found.append(name))
        )
    return found


def make_lead(owner):
    return contacts.create_contact(
        actor=owner, first_name="Ada", last_name="Lead", lifecycle_stage="lead", owner=owner
    )


def test_a_new_lead_goes_to_the_worker(owner, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        make_lead(owner)
    assert queued == ["process_new_lead"]


def test_work_that_defers_its_checks_queues_nothing(
    owner, queued, django_capture_on_commit_callbacks
):
    with work_context(checks_deferred=True), django_capture_on_commit_callbacks(execute=True):
        lead = make_lead(owner)
        contacts.update_contact(actor=owner, contact=lead, job_title="Buyer")
    assert queued == []
