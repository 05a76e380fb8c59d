"""Duplicate detection against the database: new records are checked at once, full scans keep
the queue current, the form's check warns before saving, the rules are data."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from rapport.contacts import services as contact_services
from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core import registry
from rapport.data_exchange import matching, services
from rapport.data_exchange.choices import DuplicateStatus
from rapport.data_exchange.importing import jobs
from rapport.data_exchange.models import (
    ContactDuplicate,
    ImportJob,
    MatchingPolicy,
    MatchingRule,
    OrganizationDuplicate,
)

pytestmark = pytest.mark.django_db


def test_default_rules_come_from_the_data_migration():
    contact_rules = {
        (r.field, r.method): (r.weight, r.threshold, r.conflict)
        for r in MatchingRule.objects.filter(entity="contact")
    }
    assert contact_rules == {
        (field, method): (weight, threshold, conflict)
        for field, method, weight, threshold, conflict in matching.DEFAULT_RULES["contact"]
    }
    assert MatchingPolicy.objects.get(entity="contact").review_threshold == 0.75


def test_a_new_contact_is_checked_at_once(owner, django_capture_on_commit_callbacks):
    first = make_contact(
        actor=owner, owner=owner, first_name="Grace", last_name="Hopper", phones=["+1 202 555 0143"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        second = make_contact(
            actor=owner,
            owner=owner,
            first_name="Grace",
            last_name="Hopper",
            phones=["(202) 555-0143"],
        )
        make_contact(actor=owner, owner=owner, first_name="Someone", last_name="Else")
    pair = ContactDuplicate.objects.get()
    assert (pair.contact_a_id, pair.contact_b_id) == (first.pk, second.pk)
    assert pair.reasons == ["same phone", "same name"]
    assert pair.score == pytest.approx(1 - (1 - 0.9) * (1 - 0.7), abs=1e-4)


def test_an_organization_is_checked_at_once(owner, django_capture_on_commit_callbacks):
    first = make_organization(actor=owner, owner=owner, name="Initech", domain="initech.com")
    with django_capture_on_commit_callbacks(execute=True):
        second = make_organization(actor=owner, owner=owner, name="INITECH LLC")
        make_organization(actor=owner, owner=owner, name="Globex")
    pair = OrganizationDuplicate.objects.get()
    assert (pair.organization_a_id, pair.organization_b_id) == (first.pk, second.pk)
    assert pair.reasons == ["same name"]


def test_the_form_check_warns_before_saving(owner, outsider):
    existing = make_contact(
        actor=owner, owner=owner, first_name="Ada", last_name="Lovelace", emails=["ada@engines.org"]
    )
    [check] = [c for c in registry.contact_checks if c.key == "duplicates"]
    data = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "emails": ["ADA@engines.org"],
        "phones": [],
        "organization": "",
    }
    [warning] = check.warnings(data, None)
    assert warning["url"] == existing.get_absolute_url()
    assert (
        warning["message"] == "Looks like an existing contact (same email, same name, same domain)."
    )
    [named] = matching.duplicate_warnings(data, user=owner)
    assert named["message"] == "Looks like Ada Lovelace (same email, same name, same domain)."
    [hidden] = matching.duplicate_warnings(data, user=outsider)
    assert hidden["url"] == "" and "Ada" not in hidden["message"]
    assert check.warnings(data, existing.pk) == []  # editing the contact itself
    assert check.warnings({"first_name": "Nobody", "emails": ["bad email"]}, None) == []


def test_full_scan_adds_rescores_and_removes(owner):
    a = make_contact(actor=owner, owner=owner, first_name="Ann", emails=["ann@x.org"])
    b = make_contact(actor=owner, owner=owner, first_name="Ann", emails=["ann@x.org"])
    c = make_contact(actor=owner, owner=owner, first_name="Bob", emails=["bob@y.org"])
    d = make_contact(actor=owner, owner=owner, first_name="Bob", emails=["bob@y.org"])
    ContactDuplicate.objects.all().delete()
    result = matching.scan("contact")
    assert (result.records, result.suspected, result.created) == (4, 2, 2)
    dismissed = ContactDuplicate.objects.get(contact_a=c)
    services.dismiss_duplicate(actor=owner, pair=dismissed)
    contact_services.update_contact(
        actor=owner, contact=b, emails=["other@z.org"], first_name="Zed", last_name="Zulu"
    )
    contact_services.update_contact(
        actor=owner, contact=d, emails=["other@w.org"], first_name="Yan", last_name="Yu"
    )
    result = matching.scan("contact")
    assert result.removed == 1  # a~b no longer alike; the dismissed c~d decision stays
    assert list(ContactDuplicate.objects.values_list("contact_a", "status")) == [
        (c.pk, DuplicateStatus.DISMISSED)
    ]
    assert a.pk not in ContactDuplicate.objects.values_list("contact_a", flat=True)


def test_changing_rules_changes_what_is_suspected(owner, admin_user):
    make_contact(actor=owner, owner=owner, first_name="Jonathan", last_name="Smith", city="Leeds")
    make_contact(actor=owner, owner=owner, first_name="Jonathon", last_name="Smith", city="Leeds")
    ContactDuplicate.objects.all().delete()
    assert matching.scan("contact").suspected == 0
    rules = [
        {"field": f, "method": m, "weight": w, "threshold": t, "conflict": c}
        for f, m, w, t, c in matching.DEFAULT_RULES["contact"]
        if f != "city"
    ] + [{"field": "city", "method": "exact", "weight": 0.6}]
    services.set_matching_rules(
        actor=admin_user,
        entity="contact",
        rules=rules,
        review_threshold=0.75,
        import_match_threshold=0.9,
    )
    assert matching.scan("contact").suspected == 1
    assert ContactDuplicate.objects.get().reasons == ["name 94 % similar", "same city"]


def test_only_administrators_change_rules(owner):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.reset_matching_rules(actor=owner, entity="contact")


def test_an_import_checks_its_new_contacts_when_it_ends(owner):
    make_contact(
        actor=owner,
        owner=owner,
        first_name="Katherine",
        last_name="Johnson",
        organization=make_organization(actor=owner, owner=owner, name="NASA"),
    )
    ContactDuplicate.objects.all().delete()
    data = b"First Name,Last Name,Company\r\nKatherine,Jonson,NASA\r\n"
    job = jobs.create_import(
        actor=owner, entity="contact", upload=SimpleUploadedFile("k.csv", data)
    )
    jobs.run_import(job.pk)
    assert Contact.objects.count() == 2
    pair = ContactDuplicate.objects.get()
    assert pair.reasons == ["name 96 % similar", "same organization"]


def test_cli_import_with_a_saved_mapping(owner, tmp_path):
    services.save_mapping_preset(
        actor=owner,
        entity="contact",
        name="shop",
        mapping={"Vorname": "first_name", "Mail": "email"},
    )
    path = tmp_path / "shop.csv"
    path.write_bytes("Vorname;Mail\r\nZoë;zoe@example.de\r\nBad;nope\r\n".encode("cp1252"))
    out = io.StringIO()
    call_command(
        "import",
        "contacts",
        str(path),
        "--mapping",
        "shop",
        "--dry-run",
        "--as",
        owner.email,
        stdout=out,
    )
    assert "1 would be created" in out.getvalue()
    assert "row 3, Mail: Enter a valid email address." in out.getvalue()
    assert Contact.objects.count() == 0
    call_command(
        "import",
        "contacts",
        str(path),
        "--mapping",
        "shop",
        "--policy",
        "update_empty",
        "--as",
        owner.email,
        "--keep-leads",
        stdout=io.StringIO(),
    )
    contact = Contact.objects.get()
    assert (contact.first_name, contact.owner) == ("Zoë", owner)
    assert ImportJob.objects.count() == 2
    with pytest.raises(Exception, match="No saved mapping 'nope'"):
        call_command("import", "contacts", str(path), "--mapping", "nope")
