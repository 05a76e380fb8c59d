"""Importing files: encodings, delimiters, mapping, dry runs, policies, errors, resume, undo."""

import csv
import datetime as dt
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from openpyxl import Workbook

from rapport.audit.models import ChangeRecord
from rapport.contacts import services as contact_services
from rapport.contacts.events import ContactCreated
from rapport.contacts.models import Contact, ContactEmail, Organization
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core.importing import auto_map, get_importer
from rapport.customfields.services import create_definition
from rapport.data_exchange import services
from rapport.data_exchange.choices import ImportStatus, RowAction
from rapport.data_exchange.importing import jobs
from rapport.data_exchange.importing.contacts import ContactImporter
from rapport.data_exchange.importing.reading import detect_encoding, sniff_delimiter
from rapport.data_exchange.models import ImportJob, ImportRow

pytestmark = pytest.mark.django_db

HEADER = ["First Name", "Last Name", "Email", "Phone Number", "Company Name", "City", "Tags"]
ROWS = [
    ["Zoë", "Müller", "zoe@mueller.de", "+49 30 901820", "Müller GmbH", "Berlin", "vip;berlin"],
    ["Grace", "Hopper", "grace@navy.mil", "+1 202 555 0143", "US Navy", "Arlington", "navy"],
    ["Alan", "Turing", "alan@bletchley.uk", "", "Bletchley Park", "Bletchley", ""],
]


def csv_bytes(rows, header=HEADER, delimiter=",", encoding="utf-8"):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def upload(data: bytes, name="contacts.csv"):
    return SimpleUploadedFile(name, data, content_type="text/csv")


def run(job):
    return jobs.run_import(job.pk)


def import_file(actor, data, name="contacts.csv", **kwargs):
    job = jobs.create_import(actor=actor, entity="contact", upload=upload(data, name), **kwargs)
    return run(job)


def undo(actor, job, capture_on_commit):
    """Undo `job` as the worker does (its task is queued on commit); the job, refreshed."""
    with capture_on_commit(execute=True):
        jobs.undo_import(actor=actor, job=job)
    job.refresh_from_db()
    return job


def import_organizations(actor, rows, header, **kwargs):
    data = upload(csv_bytes(rows, header=header), "organizations.csv")
    return run(jobs.create_import(actor=actor, entity="organization", upload=data, **kwargs))


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("utf-16", "utf-16"),
        ("utf-16-le", "utf-16-le"),
        ("utf-32", "utf-32"),
        ("utf-32-le", "utf-32-le"),
        ("utf-32-be", "utf-32-be"),
        ("cp1252", "cp1252"),
    ],
)
def test_encodings_are_detected_and_text_survives(owner, tmp_path, encoding, expected):
    rows = [["Zoë", "Müller", "zoe@mueller.de", "", "Café “Ångström” — 5 €", "Köln", ""]]
    data = csv_bytes(rows, encoding=encoding)
    path = tmp_path / "file.csv"
    path.write_bytes(data)
    assert detect_encoding(path) == expected
    job = import_file(owner, data)
    assert job.created_count == 1, job.failure
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name, contact.city) == ("Zoë", "Müller", "Köln")
    assert Organization.objects.get().name == "Café “Ångström” — 5 €"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_sniffed(owner, delimiter):
    job = import_file(owner, csv_bytes(ROWS, delimiter=delimiter))
    assert job.delimiter == delimiter
    assert job.created_count == 3


def test_sniffer_is_not_fooled_by_commas_inside_values():
    text = "Name;Company;City\nAda;Engines, Ltd;London\nGrace;Navy, US;Arlington\n"
    assert sniff_delimiter(text) == ";"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (  # HubSpot
            [
                "Record ID",
                "First Name",
                "Last Name",
                "Email",
                "Phone Number",
                "Company Name",
                "Lifecycle Stage",
                "Contact owner",
                "Lead Source",
            ],
            [
                "external_id",
                "first_name",
                "last_name",
                "email",
                "phone",
                "organization",
                "lifecycle_stage",
                "owner",
                "source_detail",
            ],
        ),
        (  # Google Contacts
            [
                "Name",
                "Given Name",
                "Family Name",
                "E-mail 1 - Value",
                "E-mail 2 - Value",
                "Phone 1 - Value",
                "Phone 2 - Value",
                "Organization 1 - Name",
                "Group Membership",
            ],
            [
                "full_name",
                "first_name",
                "last_name",
                "email",
                "email_2",
                "phone",
                "mobile",
                "organization",
                "tags",
            ],
        ),
        (  # Salesforce
            [
                "Contact ID",
                "First Name",
                "Last Name",
                "Title",
                "Account Name",
                "Mailing City",
                "Mailing Zip/Postal Code",
                "Mailing Country",
                "Mobile",
                "Email",
            ],
            [
                "external_id",
                "first_name",
                "last_name",
                "job_title",
                "organization",
                "city",
                "postcode",
                "country",
                "mobile",
                "email",
            ],
        ),
        (  # Salesforce's API names (a Data Loader or Workbench export)
            [
                "Id",
                "FirstName",
                "LastName",
                "Email",
                "Phone",
                "MobilePhone",
                "Title",
                "MailingStreet",
                "MailingCity",
                "MailingState",
                "MailingPostalCode",
                "MailingCountry",
                "LeadSource",
                "CreatedDate",
            ],
            [
                "external_id",
                "first_name",
                "last_name",
                "email",
                "phone",
                "mobile",
                "job_title",
                "street",
                "city",
                "region",
                "postcode",
                "country",
                "source_detail",
                "created_at",
            ],
        ),
        (  # Zoho
            [
                "First Name",
                "Last Name",
                "Email",
                "Secondary Email",
                "Mobile",
                "Account Name",
                "Mailing State",
                "Description",
            ],
            [
                "first_name",
                "last_name",
                "email",
                "email_2",
                "mobile",
                "organization",
                "region",
                "about",
            ],
        ),
    ],
)
def test_common_exports_are_mapped_automatically(headers, expected):
    mapping = auto_map(get_importer("contact"), headers)
    assert [mapping.get(h) for h in headers] == expected


def test_a_new_contact_keeps_the_creation_date_of_the_system_it_comes_from(owner):
    header = ["FirstName", "Email", "LifecycleStage", "CreatedDate"]
    rows = [
        ["Ada", "ada@example.org", "customer", "2019-03-04T10:20:30.000+0000"],
        ["Grace", "grace@example.org", "customer", "2021-07-01"],
        ["Alan", "alan@example.org", "customer", "next tuesday"],
        ["Later", "later@example.org", "customer", "2999-01-01"],
    ]
    job = import_file(owner, csv_bytes(rows, header=header))
    assert (job.created_count, job.error_count) == (2, 2)
    ada = Contact.objects.get(first_name="Ada")
    since = dt.datetime(2019, 3, 4, 10, 20, 30, tzinfo=dt.UTC)
    assert ada.created_at == since
    assert ada.lifecycle_changed_at == since
    assert ada.lifecycle_changes.get().changed_at == since
    grace = Contact.objects.get(first_name="Grace")
    assert timezone.localtime(grace.created_at).date() == dt.date(2021, 7, 1)
    errors = {row.row_number: row.errors[0] for row in job.rows.filter(action="error")}
    assert errors[4]["column"] == "CreatedDate" and "2024-03-31" in errors[4]["message"]
    assert errors[5]["message"] == "A creation date cannot be in the future."
    # An update never moves an existing contact's creation date.
    again = import_file(
        owner,
        csv_bytes([["Ada", "ada@example.org", "customer", "2001-01-01"]], header=header),
        policy="overwrite",
    )
    assert again.error_count == 0
    ada.refresh_from_db()
    assert ada.created_at == since


def test_custom_field_columns_map_by_label(owner):
    create_definition(
        actor=None, entity="contact", key="region_code", label="Sales region", field_type="text"
    )
    mapping = auto_map(get_importer("contact"), ["Sales region", "Email"])
    assert mapping == {"Sales region": "custom_fields.region_code", "Email": "email"}


def test_import_creates_contacts_with_everything(
    owner, teammate, django_capture_on_commit_callbacks, subscriptions
):
    create_definition(
        actor=None,
        entity="contact",
        key="tier",
        label="Tier",
        field_type="choice",
        choices=["Gold", "Silver"],
    )
    header = [*HEADER, "Owner email", "Tier", "Record ID", "Lifecycle Stage"]
    rows = [[*ROWS[0], teammate.email, "gold", "H-1", "customer"]]
    created = []
    subscriptions(ContactCreated, created.append)
    with django_capture_on_commit_callbacks(execute=True):
        job = import_file(
            owner, csv_bytes(rows, header=header), options={"external_id_system": "hubspot"}
        )
    assert (job.status, job.created_count, job.error_count) == (ImportStatus.COMPLETED, 1, 0)
    contact = Contact.objects.get()
    assert contact.owner == teammate
    assert contact.primary_email == "zoe@mueller.de"
    assert contact.primary_phone == "+4930901820"
    assert contact.custom_fields == {"tier": "Gold"}
    assert contact.lifecycle_stage == "customer"
    assert contact.source == "import"
    assert list(contact.external_ids.values_list("system", "value")) == [("hubspot", "H-1")]
    assert sorted(contact.tags.values_list("name", flat=True)) == ["berlin", "vip"]
    assert contact.memberships.get().organization.name == "Müller GmbH"
    assert contact.lifecycle_changes.get().to_stage == "customer"
    # Search text is folded (contacts.search): "Müller GmbH" is found as "muller gmbh".
    assert "zoe@mueller.de" in contact.search_text and "muller gmbh" in contact.search_text
    record = ChangeRecord.objects.get(entity="contacts.contact", object_id=str(contact.pk))
    assert record.action == "create" and record.actor == owner and record.source == "import"
    assert [e.contact_id for e in created if e.source == "import"] == [contact.pk]


def test_dry_run_writes_nothing_and_reports_everything(owner):
    make_contact(
        actor=owner, owner=owner, first_name="Grace", last_name="Hopper", emails=["grace@navy.mil"]
    )
    contact_records = ChangeRecord.objects.filter(entity__startswith="contacts.")
    records_before = contact_records.count()
    rows = [
        *ROWS,
        ["Bad", "Email", "not-an-email", "", "", "", ""],
        ["Bad", "Phone", "", "12", "", "", ""],
    ]
    job = import_file(owner, csv_bytes(rows), dry_run=True, policy="update_empty")
    assert job.is_dry_run and job.status == ImportStatus.COMPLETED
    assert (job.created_count, job.updated_count, job.error_count) == (2, 1, 2)
    assert Contact.objects.count() == 1
    assert Organization.objects.count() == 0
    assert contact_records.count() == records_before
    errors = list(jobs.error_rows(job))
    assert errors == [
        (5, "Email", "email", "Enter a valid email address.", "not-an-email"),
        (6, "Phone Number", "phone", "Enter a valid phone number, e.g. +1 415 555 0100.", "12"),
    ]
    updated = job.rows.get(action=RowAction.UPDATED)
    assert updated.row_number == 3 and "organization_added" in updated.after


def test_bad_rows_never_stop_good_rows(owner):
    rows = [
        ROWS[0],
        ["", "", "", "", "Orphan Inc", "", ""],
        ["X" * 101, "Long", "", "", "", "", ""],
        ROWS[1],
    ]
    job = import_file(owner, csv_bytes(rows), batch_size=2)
    assert (job.created_count, job.error_count) == (2, 2)
    assert sorted(Contact.objects.values_list("last_name", flat=True)) == ["Hopper", "Müller"]
    messages = {row: message for row, _c, _f, message, _v in jobs.error_rows(job)}
    assert messages[3] == "The row has no name, email or phone: there is no one to import."
    assert messages[4] == "Use at most 100 characters (it has 101)."


def test_importing_the_same_file_twice_changes_nothing(owner):
    data = csv_bytes([*ROWS, ["Nameless", "Colleague", "", "", "Bletchley Park", "", ""]])
    mine = {"assign_leads_by_rules": False}
    first = import_file(owner, data, policy="update_empty", options=mine)
    assert first.created_count == 4
    snapshot = sorted(Contact.objects.values_list("pk", "first_name", "updated_at"))
    records = ChangeRecord.objects.count()
    second = import_file(owner, data, policy="update_empty", options=mine)
    assert (second.created_count, second.updated_count, second.unchanged_count) == (0, 0, 4)
    assert sorted(Contact.objects.values_list("pk", "first_name", "updated_at")) == snapshot
    assert Organization.objects.count() == 3
    # Only the two jobs' own records were added, nothing about contacts.
    assert ChangeRecord.objects.count() - records == 2
    third = import_file(owner, data, policy="skip", options=mine)
    assert (third.created_count, third.skipped_count) == (0, 4)


def test_rows_repeating_a_person_in_one_file_make_one_contact(owner):
    rows = [ROWS[0], ["Zoë", "Müller", "ZOE@mueller.de", "", "", "Potsdam", "extra"]]
    job = import_file(owner, csv_bytes(rows), policy="update_empty")
    assert (job.created_count, job.updated_count) == (1, 1)
    contact = Contact.objects.get()
    assert contact.city == "Berlin"  # filled by the first row; update_empty keeps it
    assert sorted(contact.tags.values_list("name", flat=True)) == ["berlin", "extra", "vip"]


def test_policies_on_an_existing_contact(owner):
    existing = make_contact(
        actor=owner,
        owner=owner,
        first_name="Grace",
        last_name="H.",
        emails=["grace@navy.mil"],
        city="",
    )
    row = [["Grace", "Hopper", "grace@navy.mil", "", "", "Arlington", ""]]
    import_file(owner, csv_bytes(row), policy="skip")
    existing.refresh_from_db()
    assert (existing.last_name, existing.city) == ("H.", "")
    import_file(owner, csv_bytes(row), policy="update_empty")
    existing.refresh_from_db()
    assert (existing.last_name, existing.city) == ("H.", "Arlington")
    import_file(owner, csv_bytes(row), policy="overwrite")
    existing.refresh_from_db()
    assert existing.last_name == "Hopper"


def test_matching_by_external_id_then_email_then_rules(owner):
    by_id = make_contact(
        actor=owner,
        owner=owner,
        first_name="Old",
        last_name="Name",
        external_ids=[{"system": "import", "value": "X-7"}],
    )
    by_phone = make_contact(
        actor=owner,
        owner=owner,
        first_name="Katherine",
        last_name="Johnson",
        phones=["+1 757 555 0199"],
    )
    header = ["Record ID", "First Name", "Last Name", "Phone Number"]
    rows = [
        ["X-7", "New", "Name", ""],
        ["", "Kate", "Johnson", "(757) 555-0199"],
        ["", "Somebody", "Else", "+1 757 555 0199"],
    ]
    job = import_file(owner, csv_bytes(rows, header=header), policy="overwrite")
    assert job.rows.get(row_number=2).object_id == by_id.pk
    assert job.rows.get(row_number=3).object_id == by_phone.pk  # Kate = Katherine, same phone
    assert job.created_count == 1  # a different name on a shared phone is someone else
    by_id.refresh_from_db()
    assert by_id.first_name == "New"


def test_merged_contacts_are_found_through_their_aliases(owner):
    survivor = make_contact(actor=owner, owner=owner, first_name="Ada", emails=["ada@a.org"])
    loser = make_contact(actor=owner, owner=owner, first_name="Ada", emails=["ada@b.org"])
    services.merge_contacts(actor=owner, survivor=survivor, loser=loser)
    contact_services.update_contact(actor=owner, contact=survivor, emails=["ada@a.org"])
    header = ["First Name", "Email"]
    job = import_file(owner, csv_bytes([["Ada", "ada@b.org"]], header=header), policy="skip")
    assert (job.created_count, job.skipped_count) == (0, 1)
    assert job.rows.get().object_id == survivor.pk


def test_resume_after_a_crash_in_the_middle_of_a_batch(owner, monkeypatch):
    rows = [[f"First{i}", f"Last{i}", f"person{i}@example.org", "", "", "", ""] for i in range(10)]
    job = jobs.create_import(
        actor=owner, entity="contact", upload=upload(csv_bytes(rows)), batch_size=4
    )
    original = ContactImporter._create
    calls = {"n": 0}

    def crash_in_second_batch(self, drafts, run, *, dry_run):
        calls["n"] += 1
        if calls["n"] == 2:
            original(self, drafts[:2], run, dry_run=dry_run)  # half the batch is written …
            raise RuntimeError("worker killed")  # … then the process dies
        return original(self, drafts, run, dry_run=dry_run)

    monkeypatch.setattr(ContactImporter, "_create", crash_in_second_batch)
    with pytest.raises(RuntimeError):
        jobs.run_import(job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert job.processed_rows == 5  # rows 2–5: the first batch committed, the second did not
    assert Contact.objects.count() == 4
    monkeypatch.setattr(ContactImporter, "_create", original)
    jobs.run_import(job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED
    assert job.created_count == 10
    assert Contact.objects.count() == 10
    assert ContactEmail.objects.values("email").distinct().count() == 10


def test_undo_removes_what_was_created_and_restores_what_changed(
    owner, django_capture_on_commit_callbacks
):
    existing = make_contact(
        actor=owner,
        owner=owner,
        first_name="Grace",
        last_name="Hopper",
        emails=["grace@navy.mil"],
        city="",
    )
    job = import_file(
        owner, csv_bytes(ROWS), policy="update_empty", options={"assign_leads_by_rules": False}
    )
    assert (job.created_count, job.updated_count) == (2, 1)
    kept = Contact.objects.get(last_name="Turing")
    contact_services.update_contact(actor=owner, contact=kept, job_title="Mathematician")
    job = undo(owner, job, django_capture_on_commit_callbacks)
    assert job.status == ImportStatus.UNDONE
    assert job.undo_report["deleted"] == 1
    assert job.undo_report["restored"] == 1
    assert job.undo_report["kept_changed_since"] == 1
    assert sorted(Contact.objects.values_list("last_name", flat=True)) == ["Hopper", "Turing"]
    existing.refresh_from_db()
    assert existing.city == ""
    assert list(existing.tags.values_list("name", flat=True)) == []
    assert not Organization.objects.filter(name="Müller GmbH").exists()
    deleted = ChangeRecord.objects.filter(entity="contacts.organization", action="delete")
    assert "Müller GmbH" in {record.before.get("name") for record in deleted}
    with pytest.raises(ValidationError):
        jobs.undo_import(actor=owner, job=job)


def test_undo_then_reimport_creates_again(owner, django_capture_on_commit_callbacks):
    data = csv_bytes(ROWS[:1])
    job = import_file(owner, data)
    undo(owner, job, django_capture_on_commit_callbacks)
    assert Contact.objects.count() == 0
    again = import_file(owner, data)
    assert again.created_count == 1


def test_xlsx_import(owner):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["First Name", "Last Name", "Email", "Phone", "Customer number"])
    sheet.append(["Ada", "Lovelace", "ada@engines.org", 12345, 1815])
    sheet.append([None, None, None, None, None])
    sheet.append(["Charles", "Babbage", "cb@engines.org", "+44 20 7946 0001", 1791])
    buffer = io.BytesIO()
    workbook.save(buffer)
    job = jobs.create_import(
        actor=owner,
        entity="contact",
        upload=upload(buffer.getvalue(), "contacts.xlsx"),
        mapping={
            "First Name": "first_name",
            "Last Name": "last_name",
            "Email": "email",
            "Phone": "phone",
            "Customer number": "external_id",
        },
        options={"phone_region": "GB"},
    )
    assert job.file_format == "xlsx"
    job = run(job)
    assert (job.created_count, job.error_count) == (1, 1)
    assert job.rows.get(action="error").row_number == 2  # 12345 is no phone number
    assert Contact.objects.get().external_ids.get().value == "1791"


def test_bad_files_and_mappings_are_refused_with_the_field(owner):
    with pytest.raises(ValidationError) as error:
        jobs.create_import(actor=owner, entity="contact", upload=upload(b"", "x.csv"))
    assert "file" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        jobs.create_import(actor=owner, entity="contact", upload=upload(b"a,b\n1,2", "x.exe"))
    assert "file" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        jobs.create_import(
            actor=owner,
            entity="contact",
            upload=upload(csv_bytes(ROWS)),
            mapping={"Email": "password"},
        )
    assert error.value.message_dict == {"mapping.Email": ["Unknown field 'password'."]}
    with pytest.raises(ValidationError) as error:
        jobs.create_import(
            actor=owner, entity="contact", upload=upload(csv_bytes(ROWS)), mapping={"Nope": "email"}
        )
    assert "mapping.Nope" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        jobs.create_import(
            actor=owner, entity="contact", upload=upload(b"PK\x03\x04junk", "x.xlsx")
        )
    assert "file" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        jobs.create_import(
            actor=owner, entity="contact", upload=upload(csv_bytes(ROWS)), policy="merge"
        )
    assert "policy" in error.value.message_dict
    assert ImportJob.objects.count() == 0


def test_saved_presets_map_the_columns(owner):
    preset = services.save_mapping_preset(
        actor=owner,
        entity="contact",
        name="Trade show",
        mapping={"Vorname": "first_name", "Nachname": "last_name", "Mail": "email"},
        options={"external_id_system": "fair"},
    )
    data = csv_bytes([["Ada", "Lovelace", "ada@e.org"]], header=["Vorname", "Nachname", "Mail"])
    job = import_file(owner, data, preset=preset)
    assert job.mapping == preset.mapping
    assert Contact.objects.get().primary_email == "ada@e.org"
    with pytest.raises(ValidationError) as error:
        services.save_mapping_preset(
            actor=owner, entity="contact", name="x", mapping={"A": "nonsense"}
        )
    assert "mapping.A" in error.value.message_dict


def test_organizations_import_matches_by_domain_and_name(owner):
    make_organization(actor=owner, owner=owner, name="Initech", domain="initech.com")
    header = ["Company name", "Website", "Industry", "Number of Employees"]
    rows = [
        ["Initech LLC", "", "Software", "120"],
        ["Globex Corp", "https://www.globex.com/", "", "12"],
        ["", "nameless.io", "", ""],
        ["Umbrella", "not a domain", "", ""],
    ]
    job = import_organizations(owner, rows, header, policy="update_empty")
    assert (job.created_count, job.updated_count, job.error_count) == (1, 1, 2)
    initech = Organization.objects.get(name="Initech")
    assert (initech.industry, initech.size) == ("Software", "51-200")
    globex = Organization.objects.get(name="Globex Corp")
    assert (globex.domain, globex.size) == ("globex.com", "11-50")
    again = import_organizations(owner, rows, header, policy="update_empty")
    assert (again.created_count, again.unchanged_count) == (0, 2)


def test_organizations_import_undo_deletes_restores_and_keeps(
    owner, django_capture_on_commit_callbacks
):
    make_organization(actor=owner, owner=owner, name="Initech", domain="initech.com")
    header = ["Company name", "Website", "Industry"]
    rows = [
        ["Initech", "", "Software"],  # updated: gains an industry
        ["Globex", "globex.com", ""],  # created, then someone joins it
        ["Hooli", "hooli.xyz", ""],  # created, untouched
        ["Vandelay", "vandelay.com", ""],  # created, then renamed
    ]
    job = import_organizations(owner, rows, header, policy="update_empty")
    assert (job.created_count, job.updated_count) == (3, 1)
    globex = Organization.objects.get(name="Globex")
    make_contact(actor=owner, owner=owner, first_name="Hank", organization=globex)
    vandelay = Organization.objects.get(name="Vandelay")
    contact_services.update_organization(actor=owner, organization=vandelay, name="Vandelay Ind.")
    job = undo(owner, job, django_capture_on_commit_callbacks)
    assert job.status == ImportStatus.UNDONE
    assert (job.undo_report["deleted"], job.undo_report["restored"]) == (1, 1)
    assert job.undo_report["kept_changed_since"] == 2
    assert sorted(Organization.objects.values_list("name", flat=True)) == [
        "Globex",
        "Initech",
        "Vandelay Ind.",
    ]
    assert Organization.objects.get(name="Initech").industry == ""
    deletion = ChangeRecord.objects.get(entity="contacts.organization", action="delete")
    assert deletion.before["name"] == "Hooli"
    assert deletion.message == f"import #{job.pk} undone"


def test_undoing_an_organizations_import_takes_a_few_queries_per_chunk(
    owner, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    rows = [[f"Company {i}", f"company{i}.com"] for i in range(40)]
    job = import_organizations(owner, rows, ["Company name", "Website"])
    assert job.created_count == 40
    with django_assert_max_num_queries(40), django_capture_on_commit_callbacks(execute=True):
        jobs.undo_import(actor=owner, job=job)
    assert not Organization.objects.exists()
    assert (
        ChangeRecord.objects.filter(entity="contacts.organization", action="delete").count() == 40
    )


def test_error_report_and_history_rows(owner):
    rows = [ROWS[0], ["Bad", "Email", "nope", "", "", "", ""]]
    job = import_file(owner, csv_bytes(rows))
    assert list(ImportRow.objects.filter(job=job).values_list("row_number", "action")) == [
        (2, "created"),
        (2, "created"),  # the organization it brought along
        (3, "error"),
    ]


def test_two_rows_updating_one_contact_both_land(owner):
    existing = make_contact(actor=owner, owner=owner, first_name="Ada", emails=["ada@a.org"])
    header = ["First Name", "Email", "Email 2"]
    rows = [["Ada", "ada@a.org", "ada@b.org"], ["Ada", "ada@a.org", "ada@c.org"]]
    job = import_file(owner, csv_bytes(rows, header=header), policy="update_empty")
    assert job.updated_count == 2
    assert sorted(existing.emails.values_list("email", flat=True)) == [
        "ada@a.org",
        "ada@b.org",
        "ada@c.org",
    ]


@pytest.mark.parametrize("batch_size", [1, 2, 500])
def test_phone_twins_resolve_the_same_whatever_the_batches(owner, batch_size):
    """The matching rules compare a row with the rows before it in its own batch as they do
    with the contacts earlier batches wrote, so batch size never changes the outcome."""
    header = ["First Name", "Last Name", "Phone Number", "City"]
    rows = [
        ["Katherine", "Johnson", "+1 757 555 0199", "Hampton"],
        ["Kate", "Johnson", "(757) 555-0199", "Hampton"],
        ["Somebody", "Else", "+1 757 555 0199", ""],
    ]
    job = import_file(
        owner,
        csv_bytes(rows, header=header),
        policy="skip",
        batch_size=batch_size,
        options={"assign_leads_by_rules": False},
    )
    assert (job.created_count, job.skipped_count) == (2, 1)
    assert job.rows.get(row_number=3).object_id == job.rows.get(row_number=2).object_id
    assert job.rows.get(row_number=4).object_id != job.rows.get(row_number=2).object_id


def test_dry_run_counts_phone_twins_like_the_real_run(owner):
    header = ["First Name", "Last Name", "Phone Number"]
    rows = [
        ["Katherine", "Johnson", "+1 757 555 0199"],
        ["Kate", "Johnson", "(757) 555-0199"],
    ]
    dry = import_file(owner, csv_bytes(rows, header=header), dry_run=True, batch_size=1)
    assert (dry.created_count, dry.skipped_count) == (1, 1)
    assert not Contact.objects.exists()


def test_a_long_import_refreshes_the_statistics_of_what_it_reads_as_it_grows(monkeypatch):
    importer = get_importer("contact")
    statistics = jobs._Statistics(importer, ImportJob(is_dry_run=False))
    refreshed = []  # (rows imported so far, models) at each refresh
    monkeypatch.setattr(
        jobs, "refresh_statistics", lambda models: refreshed.append((statistics.rows, models))
    )
    for _batch in range(10):
        statistics.after_batch(2000)
    assert [rows for rows, _models in refreshed] == [6000, 12000]
    assert set(refreshed[0][1]) == {*ContactImporter.looked_up_models, ImportRow}
    dry_run = jobs._Statistics(importer, ImportJob(is_dry_run=True))
    dry_run.after_batch(100_000)
    assert len(refreshed) == 2


def test_an_imported_contact_is_found_exactly_as_one_the_service_made(admin_user):
    """One search-text formula (`contacts.search.contact_search_text`) for both paths."""
    import_file(admin_user, csv_bytes([ROWS[0]]))
    imported = Contact.objects.get()
    made = contact_services.create_contact(
        actor=admin_user,
        first_name="Zoë",
        last_name="Müller",
        emails=["zoe@mueller.de"],
        phones=["+49 30 901820"],
        organization=Organization.objects.get(name="Müller GmbH"),
    )
    assert made.search_text == imported.search_text
