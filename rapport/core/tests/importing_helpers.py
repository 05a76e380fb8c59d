"""What the tests of the importers in every app share: a CSV file run through the import
engine, the problems of its rows, and the organization and contact the rows link to.

A test module takes the upload folder in a temporary directory by importing `media_in_tmp`."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.data_exchange.choices import RowAction
from rapport.data_exchange.importing import jobs


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def import_csv(actor, entity: str, filename: str, header, rows, **kwargs):
    """Import `rows` under `header` as a CSV file of `entity` records; the finished job."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    upload = SimpleUploadedFile(filename, buffer.getvalue().encode(), "text/csv")
    job = jobs.create_import(actor=actor, entity=entity, upload=upload, **kwargs)
    return jobs.run_import(job.pk)


def errors_of(job) -> dict[int, list[tuple[str, str]]]:
    """Row number → (column, message) of each problem of the rows left out."""
    return {
        row.row_number: [(e["field"], e["message"]) for e in row.errors]
        for row in job.rows.filter(action=RowAction.ERROR).order_by("row_number")
    }


def make_book(owner) -> dict:
    """The owner's organization and a contact there, as the import files name them."""
    nordlicht = make_organization(actor=owner, owner=owner, name="Nordlicht Logistik GmbH")
    ana = make_contact(
        actor=owner, owner=owner, first_name="Ana", last_name="Silva", emails=["ana@nordlicht.de"]
    )
    return {"organization": nordlicht, "contact": ana}
