"""Imports touch only what the importing user may write (issue 11, access hole 1).

A team-scoped rep imports rows that name other teams' records: such a row is reported as
"exists, not yours" without the record's values and changes nothing; an owner column may only
name people the rep could give a record to; organizations likewise.
"""

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.contacts.models import Contact, Membership, Organization
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.data_exchange import services
from rapport.data_exchange.choices import RowAction
from rapport.data_exchange.tests.test_import import csv_bytes, import_file, import_organizations

pytestmark = pytest.mark.django_db

HEADER = ["First Name", "Last Name", "Email", "City", "Owner"]
KEEP = {"assign_leads_by_rules": False}


@pytest.fixture
def theirs(outsider):
    """Another team's contact, at an organization of theirs."""
    organization = make_organization(actor=outsider, owner=outsider, name="Southern Supplies")
    return make_contact(
        actor=outsider,
        owner=outsider,
        first_name="Olga",
        last_name="Other",
        emails=["olga@south.example"],
        city="Seville",
        job_title="Buyer",
        organization=organization,
    )


def only_error(job, number):
    row = job.rows.get(row_number=number)
    assert row.action == RowAction.ERROR
    return row


def test_overwriting_another_teams_contact_is_refused_per_row(owner, theirs):
    rows = [
        ["Mallory", "Takeover", "olga@south.example", "Madrid", ""],
        ["Nina", "New", "nina@north.example", "Oslo", ""],
    ]
    job = import_file(owner, csv_bytes(rows, header=HEADER), policy="overwrite", options=KEEP)
    assert (job.created_count, job.updated_count, job.error_count) == (1, 0, 1)
    theirs.refresh_from_db()
    assert (theirs.first_name, theirs.last_name, theirs.city) == ("Olga", "Other", "Seville")
    row = only_error(job, 2)
    assert row.object_id is None and row.before == {} and row.after == {}
    [error] = row.errors
    assert error["column"] == "Email"
    assert error["message"].startswith("A contact with this email address already exists and")
    assert "not yours" in error["message"]
    assert "Olga" not in str(row.errors) and "Seville" not in str(row.errors)


def test_the_dry_run_report_shows_no_values_of_records_outside_the_scope(owner, theirs):
    mine = make_contact(
        actor=owner, owner=owner, first_name="Mia", emails=["mia@north.example"], city="Bergen"
    )
    rows = [
        ["Mallory", "Takeover", "olga@south.example", "Madrid", ""],
        ["Mia", "Mine", "mia@north.example", "Trondheim", ""],
    ]
    job = import_file(
        owner, csv_bytes(rows, header=HEADER), policy="overwrite", dry_run=True, options=KEEP
    )
    assert (job.updated_count, job.error_count) == (1, 1)
    foreign = only_error(job, 2)
    assert (foreign.object_id, foreign.before, foreign.after) == (None, {}, {})
    # The rep's own contact is reported with what the import would replace, as before.
    own = job.rows.get(row_number=3)
    assert own.object_id == mine.pk and own.before["city"] == "Bergen"
    assert "Seville" not in str(list(job.rows.values_list("before", "after", "errors")))


def test_a_later_row_meaning_the_same_outsider_is_refused_too(owner, theirs):
    rows = [
        ["Olga", "Other", "olga@south.example", "Madrid", ""],
        ["Olga", "Other", "olga@south.example", "Madrid", ""],
    ]
    job = import_file(
        owner, csv_bytes(rows, header=HEADER), policy="update_empty", batch_size=1, options=KEEP
    )
    assert (job.created_count, job.error_count) == (0, 2)
    assert Contact.objects.count() == 1


def test_an_owner_column_may_name_only_people_within_reach(owner, teammate, outsider):
    read_only = UserFactory(
        username="viewer",
        role=RoleFactory(name="Viewer", is_read_only=True, scopes={"contacts": "all"}),
    )
    rows = [
        ["Tess", "Mate", "tess@north.example", "", teammate.email],
        ["Otto", "Grab", "otto@north.example", "", outsider.email],
        ["Vera", "View", "vera@north.example", "", read_only.email],
    ]
    job = import_file(owner, csv_bytes(rows, header=HEADER), options=KEEP)
    assert (job.created_count, job.error_count) == (1, 2)
    assert Contact.objects.get().owner == teammate
    for number, reason in ((3, "outside your access"), (4, "read-only")):
        [error] = only_error(job, number).errors
        assert error["column"] == "Owner" and reason in error["message"]


def test_an_owner_column_cannot_take_over_an_existing_contact(owner, outsider):
    mine = make_contact(actor=owner, owner=owner, first_name="Mia", emails=["mia@north.example"])
    rows = [["Mia", "", "mia@north.example", "", outsider.email]]
    job = import_file(owner, csv_bytes(rows, header=HEADER), policy="overwrite", options=KEEP)
    assert job.error_count == 1
    mine.refresh_from_db()
    assert mine.owner == owner


def test_a_contact_row_cannot_join_another_teams_organization(owner, theirs):
    header = ["First Name", "Email", "Company Name"]
    rows = [["Nina", "nina@north.example", "Southern Supplies"]]
    job = import_file(owner, csv_bytes(rows, header=header), options=KEEP)
    assert (job.created_count, job.error_count) == (0, 1)
    [error] = only_error(job, 2).errors
    assert error["column"] == "Company Name" and "not yours" in error["message"]
    assert Membership.objects.filter(contact__first_name="Nina").count() == 0


def test_organizations_outside_the_scope_are_not_rewritten(owner, outsider, theirs):
    header = ["Company Name", "City", "Owner"]
    rows = [
        ["Southern Supplies", "Madrid", ""],
        ["Northern Lights", "Oslo", outsider.email],
        ["Northern Stars", "Bergen", ""],
    ]
    job = import_organizations(owner, rows, header, policy="overwrite")
    assert (job.created_count, job.updated_count, job.error_count) == (1, 0, 2)
    southern = Organization.objects.get(name="Southern Supplies")
    assert (southern.city, southern.owner) == ("", outsider)
    row = only_error(job, 2)
    assert (row.object_id, row.before) == (None, {})
    assert "not yours" in row.errors[0]["message"]
    [error] = only_error(job, 3).errors
    assert error["column"] == "Owner" and "outside your access" in error["message"]
    assert Organization.objects.get(name="Northern Stars").owner == owner


def test_an_administrator_imports_over_everyone(admin_user, theirs):
    rows = [["Olga", "Other", "olga@south.example", "Madrid", ""]]
    job = import_file(admin_user, csv_bytes(rows, header=HEADER), policy="overwrite")
    assert job.updated_count == 1
    theirs.refresh_from_db()
    assert theirs.city == "Madrid"


def test_the_scope_check_is_one_query_per_batch_not_one_per_row(owner, outsider):
    emails = [f"p{i}@south.example" for i in range(12)]
    for email in emails:
        make_contact(actor=outsider, owner=outsider, emails=[email])

    def queries(count):
        rows = [["Someone", "", email, "", ""] for email in emails[:count]]
        with CaptureQueriesContext(connection) as captured:
            job = import_file(
                owner, csv_bytes(rows, header=HEADER), policy="overwrite", options=KEEP
            )
        assert job.error_count == count
        return len(captured)

    assert queries(12) == queries(2)


def test_a_preset_is_replaced_or_deleted_only_by_its_owner(owner, teammate, admin_user):
    mapping = {"Email": "email"}
    preset = services.save_mapping_preset(
        actor=owner, entity="contact", name="Shop", mapping=mapping
    )
    with pytest.raises(PermissionDenied):
        services.save_mapping_preset(
            actor=teammate, entity="contact", name="Shop", mapping={"Mail": "email"}
        )
    with pytest.raises(PermissionDenied):
        services.delete_mapping_preset(actor=teammate, preset=preset)
    preset.refresh_from_db()
    assert preset.mapping == mapping
    services.save_mapping_preset(
        actor=owner, entity="contact", name="Shop", mapping={"E-mail": "email"}
    )
    services.delete_mapping_preset(actor=admin_user, preset=preset)


def test_the_mapping_page_refuses_to_save_over_someone_elses_preset(
    owner, teammate, web_client_for
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from rapport.data_exchange.models import ImportJob, MappingPreset

    services.save_mapping_preset(
        actor=owner, entity="contact", name="Shop", mapping={"Email": "email"}
    )
    client = web_client_for(teammate)
    data = csv_bytes([["Ada", "", "ada@example.org", "", ""]], header=HEADER)
    client.post(
        "/data/imports/upload/",
        {"entity": "contact", "file": SimpleUploadedFile("people.csv", data)},
    )
    job = ImportJob.objects.get()
    response = client.post(
        f"/data/imports/{job.pk}/mapping/",
        {"column_2": "email", "policy": "skip", "save_as": "Shop", "tag_separator": ";"},
    )
    assert response.status_code == 422
    assert "Only the" in response.content.decode() and "owner or an administrator" in (
        response.content.decode()
    )
    assert MappingPreset.objects.get().mapping == {"Email": "email"}
    job.refresh_from_db()
    assert job.status == "new"
