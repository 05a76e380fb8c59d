"""Companies and accounts exported by the CRM a new user leaves (Salesforce, HubSpot, Zoho):
their header rows map without a hand-made mapping, and a small file imports as it should."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from rapport.contacts.models import Organization
from rapport.core.importing import auto_map, get_importer
from rapport.data_exchange.importing import jobs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def import_rows(actor, header, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    upload = SimpleUploadedFile("accounts.csv", buffer.getvalue().encode(), "text/csv")
    job = jobs.create_import(actor=actor, entity="organization", upload=upload)
    return jobs.run_import(job.pk)


SALESFORCE = [
    "Id",
    "Name",
    "BillingStreet",
    "BillingCity",
    "BillingState",
    "BillingPostalCode",
    "BillingCountry",
    "Phone",
    "Website",
    "Industry",
    "NumberOfEmployees",
]
HUBSPOT = [
    "Record ID",
    "Company name",
    "Company Domain Name",
    "Phone Number",
    "City",
    "State/Region",
    "Postal Code",
    "Country/Region",
    "Industry",
    "Number of Employees",
]
ZOHO = [
    "Record Id",
    "Account Name",
    "Website",
    "Phone",
    "Billing Street",
    "Billing City",
    "Billing State",
    "Billing Code",
    "Billing Country",
    "Industry",
    "Employees",
]


def test_salesforce_account_headers_map():
    mapping = auto_map(get_importer("organization"), SALESFORCE)
    assert mapping == {
        "Name": "name",
        "BillingStreet": "street",
        "BillingCity": "city",
        "BillingState": "region",
        "BillingPostalCode": "postcode",
        "BillingCountry": "country",
        "Phone": "phone",
        "Website": "domain",
        "Industry": "industry",
        "NumberOfEmployees": "size",
    }


def test_hubspot_company_headers_map():
    mapping = auto_map(get_importer("organization"), HUBSPOT)
    assert mapping == {
        "Company name": "name",
        "Company Domain Name": "domain",
        "Phone Number": "phone",
        "City": "city",
        "State/Region": "region",
        "Postal Code": "postcode",
        "Country/Region": "country",
        "Industry": "industry",
        "Number of Employees": "size",
    }


def test_zoho_account_headers_map():
    mapping = auto_map(get_importer("organization"), ZOHO)
    assert mapping == {
        "Account Name": "name",
        "Website": "domain",
        "Phone": "phone",
        "Billing Street": "street",
        "Billing City": "city",
        "Billing State": "region",
        "Billing Code": "postcode",
        "Billing Country": "country",
        "Industry": "industry",
        "Employees": "size",
    }


@pytest.mark.parametrize(
    ("header", "row"),
    [
        (
            SALESFORCE,
            [
                "0015g00000XyZabAAB",
                "Nordlicht Logistik GmbH",
                "Hafenstraße 4",
                "Hamburg",
                "Hamburg",
                "20457",
                "Germany",
                "+49 40 3070 5000",
                "https://www.nordlicht-logistik.de",
                "Transportation",
                "240",
            ],
        ),
        (
            HUBSPOT,
            [
                "9120334411",
                "Nordlicht Logistik GmbH",
                "nordlicht-logistik.de",
                "+49 40 3070 5000",
                "Hamburg",
                "Hamburg",
                "20457",
                "Germany",
                "TRANSPORTATION_TRUCKING_RAILROAD",
                "240",
            ],
        ),
        (
            ZOHO,
            [
                "zcrm_5372000000123001",
                "Nordlicht Logistik GmbH",
                "www.nordlicht-logistik.de",
                "+49 40 3070 5000",
                "Hafenstraße 4",
                "Hamburg",
                "Hamburg",
                "20457",
                "Germany",
                "Transportation",
                "240",
            ],
        ),
    ],
    ids=["salesforce", "hubspot", "zoho"],
)
def test_a_vendors_accounts_file_imports(owner, header, row):
    job = import_rows(owner, header, [row])
    assert (job.created_count, job.error_count) == (1, 0)
    organization = Organization.objects.get()
    assert organization.name == "Nordlicht Logistik GmbH"
    assert organization.domain == "nordlicht-logistik.de"
    assert (organization.city, organization.postcode, organization.country) == (
        "Hamburg",
        "20457",
        "DE",
    )
    assert organization.size == "201-1000"
    assert organization.phone == "+494030705000"
    # The same file again is the same organization.
    again = import_rows(owner, header, [row])
    assert again.created_count == 0 and Organization.objects.count() == 1
