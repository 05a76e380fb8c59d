"""Importing deals from Salesforce, HubSpot and Zoho exports: headers recognised, stages mapped
to the chosen pipeline, won and lost dates in the deal's history, record access, re-imports that
add nothing, dry runs that write nothing, undo."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from rapport.accounts.tests.factories import UserFactory
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core.importing import auto_map, get_importer
from rapport.core.tests.importing_helpers import (  # noqa: F401 (media_in_tmp: a fixture)
    errors_of,
    import_csv,
    make_book,
    media_in_tmp,
)
from rapport.data_exchange.choices import ImportStatus, RowAction
from rapport.data_exchange.importing import jobs
from rapport.sales.models import Deal, DealStageChange

pytestmark = pytest.mark.django_db


def import_deals(actor, header, rows, **kwargs):
    return import_csv(actor, "deal", "deals.csv", header, rows, **kwargs)


def at(day: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(day)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


@pytest.fixture
def book(owner, pipeline):
    """The importer's organization and contact, and the default pipeline."""
    return {**make_book(owner), "pipeline": pipeline}


SALESFORCE = [
    "Id",
    "Name",
    "AccountId",
    "Account Name",
    "Amount",
    "CurrencyIsoCode",
    "StageName",
    "CloseDate",
    "CreatedDate",
    "Owner Email",
    "IsWon",
    "IsClosed",
]
HUBSPOT = [
    "Record ID",
    "Deal Name",
    "Amount",
    "Deal Stage",
    "Close Date",
    "Create Date",
    "Deal owner",
    "Associated Company",
]
ZOHO = [
    "Record Id",
    "Deal Name",
    "Account Name",
    "Amount",
    "Stage",
    "Closing Date",
    "Created Time",
    "Deal Owner",
]


def test_salesforce_opportunity_headers_map():
    assert auto_map(get_importer("deal"), SALESFORCE) == {
        "Id": "source_id",
        "Name": "name",
        "Account Name": "organization",
        "Amount": "amount",
        "CurrencyIsoCode": "currency",
        "StageName": "stage",
        "CloseDate": "close_date",
        "CreatedDate": "created_at",
        "Owner Email": "owner",
        "IsWon": "is_won",
        "IsClosed": "is_closed",
    }


def test_hubspot_deal_headers_map():
    assert auto_map(get_importer("deal"), HUBSPOT) == {
        "Record ID": "source_id",
        "Deal Name": "name",
        "Amount": "amount",
        "Deal Stage": "stage",
        "Close Date": "close_date",
        "Create Date": "created_at",
        "Deal owner": "owner",
        "Associated Company": "organization",
    }


def test_zoho_deal_headers_map():
    assert auto_map(get_importer("deal"), ZOHO) == {
        "Record Id": "source_id",
        "Deal Name": "name",
        "Account Name": "organization",
        "Amount": "amount",
        "Stage": "stage",
        "Closing Date": "close_date",
        "Created Time": "created_at",
        "Deal Owner": "owner",
    }


def test_salesforce_opportunities_keep_their_dates_and_outcomes(owner, teammate, book):
    job = import_deals(
        owner,
        SALESFORCE,
        [
            [
                "0065g00000AbCdEAAV",
                "Fleet telematics rollout",
                "0015g00000XyZabAAB",
                "Nordlicht Logistik GmbH",
                "48,000.00",
                "EUR",
                "Closed Won",
                "2025-06-30",
                "2025-02-03T09:15:00.000+0000",
                "teammate@example.com",
                "true",
                "true",
            ],
            [
                "0065g00000AbCdFAAV",
                "Warehouse sensors",
                "0015g00000XyZabAAB",
                "Nordlicht Logistik GmbH",
                "12500",
                "USD",
                "Negotiation",
                "2031-09-30",
                "2025-04-01T10:00:00.000+0000",
                "",
                "false",
                "false",
            ],
        ],
    )
    assert job.status == ImportStatus.COMPLETED
    assert (job.created_count, job.error_count) == (2, 0), errors_of(job)
    won = Deal.objects.get(name="Fleet telematics rollout")
    assert won.stage.name == "Won" and won.status == "won"
    assert won.amount == Decimal("48000.00") and won.currency == "EUR"
    assert won.owner == teammate and won.organization == book["organization"]
    assert won.created_at == at("2025-02-03T09:15:00+00:00")
    assert timezone.localtime(won.closed_at).date() == dt.date(2025, 6, 30)
    # The history: opened on its creation date, won on its close date.
    history = list(
        won.stage_changes.order_by("changed_at").values_list("to_stage__name", flat=True)
    )
    assert history == ["Qualification", "Won"]
    assert won.stage_changes.get(to_stage__name="Won").changed_at.date() == dt.date(2025, 6, 30)
    open_deal = Deal.objects.get(name="Warehouse sensors")
    assert open_deal.stage.name == "Negotiation" and open_deal.status == "open"
    assert open_deal.owner == owner and open_deal.currency == "USD"
    assert open_deal.expected_close_date == dt.date(2031, 9, 30)


def test_hubspot_stages_are_folded_and_unknown_ones_named(owner, teammate, book):
    teammate.first_name, teammate.last_name = "Lena", "Vogt"
    teammate.save()
    job = import_deals(
        owner,
        HUBSPOT,
        [
            [
                "1001",
                "Pilot",
                "9000",
                "closedwon",
                "2025-05-02",
                "2025-01-10 08:00",
                "Lena Vogt",
                "Nordlicht Logistik GmbH",
            ],
            ["1002", "Expansion", "20000", "PROPOSAL", "2031-01-31", "2025-03-01", "", ""],
            [
                "1003",
                "Renewal",
                "5000",
                "appointmentscheduled",
                "2031-02-28",
                "2025-03-02",
                "",
                "",
            ],
        ],
    )
    assert (job.created_count, job.error_count) == (2, 1)
    assert Deal.objects.get(name="Pilot").owner == teammate
    assert Deal.objects.get(name="Pilot").status == "won"
    assert Deal.objects.get(name="Expansion").stage.name == "Proposal"
    [(column, message)] = errors_of(job)[4]
    assert column == "stage"
    assert "'appointmentscheduled' is not a stage of New business" in message
    assert "Qualification, Needs analysis, Proposal, Negotiation, Won, Lost" in message


def test_zoho_lost_deals_need_a_reason_and_owners_can_be_mapped(owner, teammate, book, lost_reason):
    rows = [
        [
            "zcrm_1",
            "Cold storage",
            "Nordlicht Logistik GmbH",
            "7000",
            "Closed-Lost to Competition",
            "2025-04-15",
            "2025-01-20 11:30:00",
            "Maria Gonzales",
        ],
    ]
    job = import_deals(owner, ZOHO, rows)
    assert job.created_count == 0
    assert errors_of(job)[2] == [
        ("lost_reason", "Say why the deal was lost: one of Price."),
        (
            "owner",
            "No Rapport user 'Maria Gonzales': give a user's email address, or map this owner "
            "to a user in the import's owner mapping.",
        ),
    ]
    header = [*ZOHO, "Reason For Loss"]
    job = import_deals(
        owner,
        header,
        [[*rows[0], "price"]],
        options={"owner_map": {"Maria Gonzales": "teammate@example.com"}},
    )
    assert (job.created_count, job.error_count) == (1, 0), errors_of(job)
    deal = Deal.objects.get()
    assert deal.status == "lost" and deal.lost_reason == lost_reason
    assert deal.owner == teammate
    lost = DealStageChange.objects.get(deal=deal, to_stage__name="Lost")
    assert timezone.localtime(lost.changed_at).date() == dt.date(2025, 4, 15)


def test_the_same_deal_twice_is_one_deal(owner, book):
    row = ["1001", "Pilot", "9000", "Proposal", "2031-05-02", "2025-01-10", "", ""]
    first = import_deals(owner, HUBSPOT, [row, row])
    assert (first.created_count, first.unchanged_count) == (1, 1)
    # The same record exported again with another amount: still the same deal, by its id.
    second = import_deals(owner, HUBSPOT, [["1001", "Pilot", "9500", *row[3:]]])
    assert second.created_count == 0 and Deal.objects.count() == 1
    # Without an id column the row's fingerprint says it.
    header = [h for h in HUBSPOT if h != "Record ID"]
    import_deals(owner, header, [row[1:]])
    again = import_deals(owner, header, [row[1:]])
    assert again.created_count == 0 and Deal.objects.count() == 2


def test_a_dry_run_reports_each_row_and_writes_nothing(owner, book):
    job = import_deals(
        owner,
        HUBSPOT,
        [
            ["1", "Pilot", "9000", "Won", "2025-05-02", "2025-01-10", "", ""],
            ["2", "Broken", "lots", "Proposal", "someday", "", "", ""],
        ],
        dry_run=True,
    )
    assert (job.created_count, job.error_count) == (1, 1)
    assert Deal.objects.count() == 0 and DealStageChange.objects.count() == 0
    errors = dict(errors_of(job)[3])
    assert errors["close_date"] == "Give a date such as 2024-03-31."
    assert errors["amount"] == "Enter an amount, e.g. 12500.00."
    created = job.rows.get(action=RowAction.CREATED)
    assert created.after["stage"] == "Won"
    bad = import_deals(
        owner,
        HUBSPOT,
        [["3", "Broken", "lots", "Proposal", "2031-01-01", "", "", ""]],
        dry_run=True,
    )
    assert errors_of(bad)[2] == [("amount", "Enter an amount, e.g. 12500.00.")]


def test_records_outside_the_importers_access_are_row_errors(owner, outsider, pipeline):
    make_organization(actor=outsider, owner=outsider, name="Elsewhere AG")
    make_contact(actor=outsider, owner=outsider, emails=["far@elsewhere.de"])
    header = ["Deal Name", "Account Name", "Contact Email", "Stage", "Close Date", "Deal owner"]
    job = import_deals(
        owner,
        header,
        [
            ["A", "Elsewhere AG", "", "Proposal", "2031-01-01", ""],
            ["B", "", "far@elsewhere.de", "Proposal", "2031-01-01", ""],
            ["C", "", "", "Proposal", "2031-01-01", "outsider@example.com"],
            [
                "D",
                "",
                "",
                "Proposal",
                "2031-01-01",
                UserFactory(username="gone", is_active=False).email,
            ],
        ],
    )
    assert job.created_count == 0 and Deal.objects.count() == 0
    errors = errors_of(job)
    assert errors[2][0][0] == "organization" and "among those you can see" in errors[2][0][1]
    assert errors[3][0][0] == "contact" and "among those you can see" in errors[3][0][1]
    assert errors[4][0][0] == "owner"
    assert errors[5][0][0] == "owner" and "No Rapport user" in errors[5][0][1]


def test_undo_deletes_the_deals_it_created(owner, book, django_capture_on_commit_callbacks):
    job = import_deals(
        owner,
        HUBSPOT,
        [
            ["1", "Pilot", "9000", "Won", "2025-05-02", "2025-01-10", "", ""],
            ["2", "Expansion", "100", "Proposal", "2031-01-31", "", "", ""],
        ],
    )
    assert Deal.objects.count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        jobs.undo_import(actor=owner, job=job)
    job.refresh_from_db()
    assert job.status == ImportStatus.UNDONE
    assert job.undo_report["deleted"] == 2 and Deal.objects.count() == 0
    # Undone, the rows import again.
    assert (
        import_deals(
            owner, HUBSPOT, [["2", "Expansion", "100", "Proposal", "2031-01-31", "", "", ""]]
        ).created_count
        == 1
    )


def test_the_mapping_page_offers_the_pipeline(
    owner, admin_user, book, web_client_for, django_capture_on_commit_callbacks
):
    from rapport.data_exchange.models import ImportJob
    from rapport.sales.services.pipelines import create_pipeline

    renewals = create_pipeline(
        actor=admin_user,
        name="Renewals",
        stages=[
            {"name": "Due"},
            {"name": "Renewed", "kind": "won", "probability": 100},
            {"name": "Churned", "kind": "lost", "probability": 0},
        ],
    )
    client = web_client_for(owner)
    data = b"Deal Name,Deal Stage,Close Date\r\nFleet,Renewed,2025-05-02\r\n"
    response = client.post(
        "/data/imports/upload/",
        {"entity": "deal", "file": SimpleUploadedFile("deals.csv", data)},
    )
    job = ImportJob.objects.get()
    page = client.get(response["Location"])
    assert b"Pipeline the deals go into" in page.content and b"Renewals" in page.content
    form = {
        "column_0": "name",
        "column_1": "stage",
        "column_2": "close_date",
        "policy": "skip",
        "pipeline": str(renewals.pk),
    }
    with django_capture_on_commit_callbacks(execute=True):
        client.post(response["Location"], form)
    job.refresh_from_db()
    assert (job.status, job.created_count, job.error_count) == (ImportStatus.COMPLETED, 1, 0)
    deal = Deal.objects.get()
    assert (deal.pipeline, deal.stage.name, deal.status) == (renewals, "Renewed", "won")


def test_undoing_the_import_of_a_won_deal_removes_its_order(
    owner, book, django_capture_on_commit_callbacks
):
    from rapport.commerce.models import Order

    job = import_deals(
        owner,
        HUBSPOT,
        [["1", "Pilot", "9000", "Won", "2025-05-02", "2025-01-10", "", "Nordlicht Logistik GmbH"]],
    )
    deal = Deal.objects.get()
    order = Order.objects.get(deal_id=deal.pk)
    assert (order.organization, order.total) == (book["organization"], Decimal("9000.00"))
    with django_capture_on_commit_callbacks(execute=True):
        jobs.undo_import(actor=owner, job=job)
    assert not Deal.objects.exists()
    assert not Order.objects.exists()
