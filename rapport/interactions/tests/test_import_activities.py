"""Importing activities from HubSpot, Salesforce and Zoho exports: timeline entries on their
original dates, linked by email or name within the importer's access, re-imports that add
nothing, dry runs that write nothing, undo."""

import datetime as dt
import io

import pytest
from django.utils import timezone

from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core.importing import auto_map, get_importer
from rapport.core.tests.importing_helpers import (  # noqa: F401 (media_in_tmp: a fixture)
    errors_of,
    import_csv,
    make_book,
    media_in_tmp,
)
from rapport.data_exchange.choices import ImportStatus
from rapport.data_exchange.importing import jobs
from rapport.interactions.models import Interaction

pytestmark = pytest.mark.django_db


def import_activities(actor, header, rows, **kwargs):
    return import_csv(actor, "activity", "activities.csv", header, rows, **kwargs)


@pytest.fixture
def book(owner):
    return make_book(owner)


HUBSPOT = [
    "Record ID",
    "Activity type",
    "Activity date",
    "Subject",
    "Body",
    "Associated Contact",
    "Associated Company",
    "Call direction",
    "Call outcome",
    "Call duration",
]
SALESFORCE = [
    "Id",
    "Subject",
    "ActivityDate",
    "TaskSubtype",
    "Description",
    "CallType",
    "CallDurationInSeconds",
    "Contact Email",
    "Account Name",
    "CreatedDate",
]
ZOHO_CALLS = [
    "Record Id",
    "Subject",
    "Call Type",
    "Call Start Time",
    "Call Duration",
    "Call Result",
    "Description",
    "Contact Name",
]


def test_hubspot_activity_headers_map():
    assert auto_map(get_importer("activity"), HUBSPOT) == {
        "Record ID": "source_id",
        "Activity type": "kind",
        "Activity date": "occurred_at",
        "Subject": "subject",
        "Body": "body",
        "Associated Contact": "contact",
        "Associated Company": "organization",
        "Call direction": "direction",
        "Call outcome": "outcome",
        "Call duration": "duration",
    }


def test_salesforce_task_headers_map():
    assert auto_map(get_importer("activity"), SALESFORCE) == {
        "Id": "source_id",
        "Subject": "subject",
        "ActivityDate": "occurred_at",
        "TaskSubtype": "kind",
        "Description": "body",
        "CallType": "direction",
        "CallDurationInSeconds": "duration_seconds",
        "Contact Email": "contact",
        "Account Name": "organization",
    }


def test_zoho_call_headers_map():
    assert auto_map(get_importer("activity"), ZOHO_CALLS) == {
        "Record Id": "source_id",
        "Subject": "subject",
        "Call Type": "direction",
        "Call Start Time": "occurred_at",
        "Call Duration": "duration",
        "Call Result": "outcome",
        "Description": "body",
        "Contact Name": "contact",
    }


HUBSPOT_ROWS = [
    [
        "11",
        "NOTE",
        "2024-11-04 09:30",
        "",
        "Wants a pilot in Q1.",
        "ana@nordlicht.de",
        "",
        "",
        "",
        "",
    ],
    [
        "12",
        "CALL",
        "2024-11-05 14:00",
        "Pilot scope",
        "Talked through the scope.",
        "Ana Silva (ana@nordlicht.de)",
        "",
        "Outbound",
        "Connected",
        "00:25:00",
    ],
    [
        "13",
        "MEETING",
        "2024-11-12 10:00",
        "On-site visit",
        "",
        "",
        "Nordlicht Logistik GmbH",
        "",
        "Completed",
        "60",
    ],
    [
        "14",
        "EMAIL",
        "2024-11-13 08:10",
        "Proposal",
        "Attached.",
        "ana@nordlicht.de",
        "",
        "",
        "",
        "",
    ],
]


def test_hubspot_activities_keep_their_dates(owner, book):
    job = import_activities(owner, HUBSPOT, HUBSPOT_ROWS)
    assert job.status == ImportStatus.COMPLETED
    assert (job.created_count, job.error_count) == (4, 0), errors_of(job)
    entries = {entry.kind: entry for entry in Interaction.objects.all()}
    assert set(entries) == {"note", "call", "meeting", "email"}
    call = entries["call"]
    assert call.contact == book["contact"] and call.outcome == "connected"
    assert call.duration_minutes == 25 and call.direction == "outbound"
    assert timezone.localtime(call.occurred_at).replace(tzinfo=None) == dt.datetime(
        2024, 11, 5, 14, 0
    )
    meeting = entries["meeting"]
    assert meeting.organization == book["organization"] and meeting.contact is None
    assert meeting.outcome == "completed" and meeting.duration_minutes == 60
    assert entries["note"].body == "Wants a pilot in Q1."
    # The same file again adds nothing.
    again = import_activities(owner, HUBSPOT, HUBSPOT_ROWS)
    assert (again.created_count, again.error_count, again.skipped_count) == (0, 0, 4)
    assert Interaction.objects.count() == 4


def test_salesforce_tasks_name_what_they_cannot_take(owner, book):
    job = import_activities(
        owner,
        SALESFORCE,
        [
            [
                "00T1",
                "Intro call",
                "2024-10-01",
                "Call",
                "Good first call.",
                "Inbound",
                "300",
                "ana@nordlicht.de",
                "",
                "2024-10-01T08:00:00.000+0000",
            ],
            ["00T2", "Send deck", "2024-10-02", "Task", "", "", "", "ana@nordlicht.de", "", ""],
            ["00T3", "Lunch", "2024-10-03", "Email", "Hi", "", "", "nobody@else.com", "", ""],
            ["00T4", "Later", "next week", "Call", "", "", "", "ana@nordlicht.de", "", ""],
        ],
    )
    assert job.created_count == 1
    call = Interaction.objects.get()
    assert (call.kind, call.direction, call.duration_minutes) == ("call", "inbound", 5)
    assert timezone.localtime(call.occurred_at).date() == dt.date(2024, 10, 1)
    errors = errors_of(job)
    assert errors[3] == [
        ("kind", "'Task' is not a type of activity: use Note, Call, Meeting, Email, SMS, Chat.")
    ]
    assert errors[4] == [
        (
            "contact",
            "No contact with the email 'nobody@else.com' among those you can see; import the "
            "contacts first.",
        )
    ]
    assert errors[5] == [("occurred_at", "Give a date such as 2024-03-31 or 2024-03-31 14:05.")]


def test_zoho_calls_take_their_type_from_the_option(owner, book):
    rows = [
        [
            "zcrm_9",
            "Follow-up",
            "Outbound",
            "2024-09-10 16:00:00",
            "00:05:00",
            "Busy",
            "",
            "Ana Silva",
        ],
        ["zcrm_10", "Retry", "Outbound", "2024-09-11 16:00:00", "", "Sold", "", "Ana Silva"],
    ]
    job = import_activities(owner, ZOHO_CALLS, rows, options={"kind": "call"})
    assert job.created_count == 1
    call = Interaction.objects.get()
    assert (call.kind, call.outcome, call.duration_minutes) == ("call", "busy", 5)
    assert call.contact == book["contact"]
    assert errors_of(job)[3] == [
        (
            "outcome",
            "'Sold' is not an outcome of a call: use Connected, Left voicemail, No answer, "
            "Busy, Wrong number.",
        )
    ]


def test_without_an_id_column_the_row_itself_is_the_key(owner, book):
    header = ["Type", "Date", "Notes", "Email"]
    rows = [["Note", "2024-01-02", "Met at the fair.", "ana@nordlicht.de"]]
    assert import_activities(owner, header, rows).created_count == 1
    assert import_activities(owner, header, rows).created_count == 0
    assert Interaction.objects.count() == 1


def test_a_dry_run_writes_nothing(owner, book):
    job = import_activities(owner, HUBSPOT, HUBSPOT_ROWS, dry_run=True)
    assert (job.created_count, job.error_count) == (4, 0), errors_of(job)
    assert Interaction.objects.count() == 0


def test_records_outside_the_importers_access_are_row_errors(owner, outsider, book):
    make_contact(actor=outsider, owner=outsider, first_name="Far", emails=["far@elsewhere.de"])
    make_organization(actor=outsider, owner=outsider, name="Elsewhere AG")
    job = import_activities(
        owner,
        ["Type", "Date", "Notes", "Email", "Company"],
        [
            ["Note", "2024-01-02", "Hello", "far@elsewhere.de", ""],
            ["Note", "2024-01-02", "Hello", "", "Elsewhere AG"],
            ["Note", "2024-01-02", "Hello", "", ""],
        ],
    )
    assert job.created_count == 0 and Interaction.objects.count() == 0
    errors = errors_of(job)
    assert errors[2][0][0] == "contact" and "among those you can see" in errors[2][0][1]
    assert errors[3][0][0] == "organization"
    assert errors[4] == [
        ("contact", "Name the contact (an email address) or the organization it is about.")
    ]


def test_undo_deletes_the_entries_it_created(owner, book, django_capture_on_commit_callbacks):
    job = import_activities(owner, HUBSPOT, HUBSPOT_ROWS)
    assert Interaction.objects.count() == 4
    with django_capture_on_commit_callbacks(execute=True):
        jobs.undo_import(actor=owner, job=job)
    job.refresh_from_db()
    assert job.status == ImportStatus.UNDONE
    assert job.undo_report["deleted"] == 4 and Interaction.objects.count() == 0
    assert import_activities(owner, HUBSPOT, HUBSPOT_ROWS[:1]).created_count == 1


def test_the_command_line_takes_activities(owner, book, tmp_path):
    from django.core.management import call_command

    path = tmp_path / "activities.csv"
    path.write_text(
        "Type,Date,Notes,Email\r\nNote,2024-01-02,Met at the fair.,ana@nordlicht.de\r\n"
    )
    out = io.StringIO()
    call_command("import", "activities", str(path), "--as", owner.username, stdout=out)
    assert Interaction.objects.get().body == "Met at the fair."
