"""Importing tasks from Salesforce, HubSpot and Zoho exports: headers recognised, assignees by
email or name within what the services allow, links within the importer's access, re-imports
that add nothing, dry runs that write nothing, undo."""

import datetime as dt

import pytest
from django.utils import timezone

from rapport.contacts.tests.factories import make_contact
from rapport.core.importing import auto_map, get_importer
from rapport.core.tests.importing_helpers import (  # noqa: F401 (media_in_tmp: a fixture)
    errors_of,
    import_csv,
    make_book,
    media_in_tmp,
)
from rapport.data_exchange.choices import ImportStatus
from rapport.data_exchange.importing import jobs
from rapport.sales.models import Task

pytestmark = pytest.mark.django_db


def import_tasks(actor, header, rows, **kwargs):
    return import_csv(actor, "task", "tasks.csv", header, rows, **kwargs)


@pytest.fixture
def book(owner):
    return make_book(owner)["contact"]


SALESFORCE = ["Id", "Subject", "ActivityDate", "Status", "Priority", "Owner Email", "Contact Email"]
HUBSPOT = ["Record ID", "Task Title", "Due Date", "Task Status", "Priority", "Assigned to"]
ZOHO = ["Record Id", "Subject", "Due Date", "Status", "Priority", "Task Owner", "Contact Name"]


def test_vendor_task_headers_map():
    importer = get_importer("task")
    assert auto_map(importer, SALESFORCE) == {
        "Id": "source_id",
        "Subject": "title",
        "ActivityDate": "due_at",
        "Status": "status",
        "Priority": "priority",
        "Owner Email": "assignee",
        "Contact Email": "contact",
    }
    assert auto_map(importer, HUBSPOT) == {
        "Record ID": "source_id",
        "Task Title": "title",
        "Due Date": "due_at",
        "Task Status": "status",
        "Priority": "priority",
        "Assigned to": "assignee",
    }
    assert auto_map(importer, ZOHO) == {
        "Record Id": "source_id",
        "Subject": "title",
        "Due Date": "due_at",
        "Status": "status",
        "Priority": "priority",
        "Task Owner": "assignee",
        "Contact Name": "contact",
    }


def test_salesforce_tasks_import_once(owner, teammate, book):
    rows = [
        [
            "00T1",
            "Send proposal",
            "2031-03-01",
            "Not Started",
            "High",
            "teammate@example.com",
            "ana@nordlicht.de",
        ],
        ["00T2", "Intro call", "2024-02-01", "Completed", "Normal", "", "ana@nordlicht.de"],
        ["00T3", "Chase", "2031-03-02", "Not Started", "Whenever", "", ""],
    ]
    job = import_tasks(owner, SALESFORCE, rows)
    assert job.status == ImportStatus.COMPLETED
    assert (job.created_count, job.error_count) == (2, 1)
    proposal = Task.objects.get(title="Send proposal")
    assert proposal.assignee == teammate and proposal.priority == "high"
    assert proposal.contact == book and proposal.status == "open"
    assert timezone.localtime(proposal.due_at).replace(tzinfo=None) == dt.datetime(2031, 3, 1, 9)
    assert Task.objects.get(title="Intro call").status == "done"
    assert errors_of(job)[4] == [("priority", "Use low, normal, high or urgent.")]
    again = import_tasks(owner, SALESFORCE, rows[:2])
    assert again.created_count == 0 and Task.objects.count() == 2


def test_zoho_owner_names_and_the_owner_map(owner, teammate, book):
    teammate.first_name, teammate.last_name = "Lena", "Vogt"
    teammate.save()
    rows = [
        ["z1", "Demo", "2031-04-01 10:30", "In Progress", "Highest", "Lena Vogt", "Ana Silva"],
        ["z2", "Quote", "2031-04-02", "Not Started", "Low", "Maria Gonzales", ""],
    ]
    job = import_tasks(owner, ZOHO, rows)
    assert job.created_count == 1
    demo = Task.objects.get()
    assert (demo.assignee, demo.priority, demo.contact) == (teammate, "urgent", book)
    [(column, message)] = errors_of(job)[3]
    assert column == "assignee" and "No Rapport user 'Maria Gonzales'" in message
    mapped = import_tasks(
        owner, ZOHO, rows[1:], options={"owner_map": {"Maria Gonzales": "owner@example.com"}}
    )
    assert mapped.created_count == 1
    assert Task.objects.get(title="Quote").assignee == owner


def test_dry_run_access_and_undo(owner, outsider, book, django_capture_on_commit_callbacks):
    make_contact(actor=outsider, owner=outsider, emails=["far@elsewhere.de"])
    rows = [
        ["1", "Follow up", "2031-05-01", "", "", ""],
        ["2", "Elsewhere", "2031-05-01", "", "", "far@elsewhere.de"],
    ]
    header = ["Record ID", "Task Title", "Due Date", "Task Status", "Priority", "Contact Email"]
    dry = import_tasks(owner, header, rows, dry_run=True)
    assert (dry.created_count, dry.error_count) == (1, 1) and Task.objects.count() == 0
    assert errors_of(dry)[3][0][0] == "contact"
    job = import_tasks(owner, header, rows)
    assert Task.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        jobs.undo_import(actor=owner, job=job)
    job.refresh_from_db()
    assert job.undo_report["deleted"] == 1 and Task.objects.count() == 0
