"""The data pages: access (anonymous, owner, teammate, outsider, read-only), the review and
merge flow, matching rules, the import flow, data quality."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact
from rapport.core import registry
from rapport.core.tests.pages import page_with_panels
from rapport.data_exchange.choices import DuplicateStatus, ImportStatus
from rapport.data_exchange.models import ContactDuplicate, ImportJob, MatchingRule

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(owner, teammate):
    a = make_contact(
        actor=owner,
        owner=owner,
        first_name="Ada",
        last_name="Lovelace",
        emails=["ada@engines.org"],
        city="London",
    )
    b = make_contact(
        actor=owner,
        owner=teammate,
        first_name="Ada",
        last_name="King",
        emails=["ada@engines.org"],
        job_title="Countess",
    )
    ContactDuplicate.objects.all().delete()
    return ContactDuplicate.objects.create(
        contact_a=a, contact_b=b, score=0.95, reasons=["same email"]
    )


@pytest.fixture
def reader(sales_team):
    role = RoleFactory(name="Reader", is_read_only=True, scopes={"contacts": "team"})
    return UserFactory(username="reader", role=role, teams=[sales_team])


@pytest.mark.parametrize(
    "url",
    [
        "/data/quality/",
        "/data/duplicates/",
        "/data/imports/",
        "/data/export/",
        "/data/matching-rules/contact/",
    ],
)
def test_anonymous_is_sent_to_sign_in(url):
    response = Client().get(url)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_navigation_lists_the_data_pages():
    keys = {item.key for item in registry.navigation}
    assert {"data_quality", "duplicates", "imports"} <= keys


def test_queue_shows_pairs_within_scope(
    owner, teammate, outsider, web_client_for, pair, django_assert_max_num_queries
):
    client = web_client_for(owner)
    with django_assert_max_num_queries(12):
        response = client.get("/data/duplicates/")
    assert response.status_code == 200
    assert b"same email" in response.content
    assert f"/data/duplicates/contact/{pair.pk}/".encode() in response.content
    assert b"same email" in web_client_for(teammate).get("/data/duplicates/").content
    assert b"same email" not in web_client_for(outsider).get("/data/duplicates/").content


def test_review_page_and_live_preview(owner, web_client_for, pair):
    client = web_client_for(owner)
    page = client.get(f"/data/duplicates/contact/{pair.pk}/")
    assert page.status_code == 200
    assert b"Countess" in page.content and b"What the merge does" in page.content
    loser = pair.contact_b
    preview = client.get(
        f"/data/duplicates/contact/{pair.pk}/",
        {"survivor": pair.contact_a_id, "choose_last_name": loser.pk},
        HTTP_HX_REQUEST="true",
    )
    assert preview.status_code == 200
    assert b"<html" not in preview.content
    assert f'value="{loser.pk}" checked'.encode() in preview.content


def test_outsider_gets_404_everywhere_on_a_pair(outsider, web_client_for, pair):
    client = web_client_for(outsider)
    base = f"/data/duplicates/contact/{pair.pk}/"
    assert client.get(base).status_code == 404
    assert client.post(base + "merge/", {"survivor": pair.contact_a_id}).status_code == 404
    assert client.post(base + "dismiss/").status_code == 404
    assert Contact.objects.filter(pk=pair.contact_b_id).exists()


def test_read_only_role_cannot_merge_or_dismiss(reader, web_client_for, pair):
    client = web_client_for(reader)
    base = f"/data/duplicates/contact/{pair.pk}/"
    assert client.get(base).status_code == 200
    assert client.post(base + "merge/", {"survivor": pair.contact_a_id}).status_code == 403
    assert client.post(base + "dismiss/").status_code == 403
    pair.refresh_from_db()
    assert pair.status == DuplicateStatus.PENDING


def test_merge_from_the_page(owner, web_client_for, pair):
    survivor, loser = pair.contact_a, pair.contact_b
    response = web_client_for(owner).post(
        f"/data/duplicates/contact/{pair.pk}/merge/",
        {"survivor": survivor.pk, "choose_last_name": loser.pk},
    )
    assert response.status_code == 302
    assert response["Location"] == survivor.get_absolute_url()
    survivor.refresh_from_db()
    assert survivor.last_name == "King"
    assert survivor.job_title == "Countess"
    assert not Contact.objects.filter(pk=loser.pk).exists()


def test_dismiss_from_the_queue(owner, web_client_for, pair):
    response = web_client_for(owner).post(
        f"/data/duplicates/contact/{pair.pk}/dismiss/", HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and response.content == b""
    pair.refresh_from_db()
    assert pair.status == DuplicateStatus.DISMISSED
    listed = web_client_for(owner).get("/data/duplicates/?entity=contact&status=dismissed")
    assert b"same email" in listed.content


def test_matching_rules_are_for_administrators(owner, admin_user, web_client_for):
    assert web_client_for(owner).get("/data/matching-rules/contact/").status_code == 403
    client = web_client_for(admin_user)
    page = client.get("/data/matching-rules/contact/")
    assert page.status_code == 200
    rules = list(MatchingRule.objects.filter(entity="contact").order_by("-weight", "field"))
    data = {
        "rules-TOTAL_FORMS": str(len(rules) + 1),
        "rules-INITIAL_FORMS": str(len(rules)),
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
        "review_threshold": "0.8",
        "import_match_threshold": "0.9",
    }
    for i, rule in enumerate(rules):
        data |= {
            f"rules-{i}-field": rule.field,
            f"rules-{i}-method": rule.method,
            f"rules-{i}-weight": "0.5" if rule.field == "city" else str(rule.weight),
            f"rules-{i}-threshold": str(rule.threshold),
            f"rules-{i}-is_active": "on",
        }
    assert client.post("/data/matching-rules/contact/", data).status_code == 302
    assert MatchingRule.objects.get(entity="contact", field="city").weight == 0.5
    bad = dict(data, **{"rules-0-method": "fuzzy", "rules-0-field": "email"})
    response = client.post("/data/matching-rules/contact/", bad)
    assert response.status_code == 422
    assert b"email can be compared by: exact." in response.content


HEADER = "First Name,Last Name,Email,Company\r\n"


def test_import_flow_from_upload_to_undo(owner, web_client_for, django_capture_on_commit_callbacks):
    client = web_client_for(owner)
    data = (HEADER + "Ada,Lovelace,ada@engines.org,Engines\r\nBad,Row,not-an-email,\r\n").encode()
    response = client.post(
        "/data/imports/upload/",
        {"entity": "contact", "file": SimpleUploadedFile("people.csv", data)},
    )
    job = ImportJob.objects.get()
    assert response["Location"] == f"/data/imports/{job.pk}/mapping/"
    mapping_page = client.get(response["Location"])
    assert mapping_page.status_code == 200
    assert b"ada@engines.org" in mapping_page.content  # the first values are shown
    form = {
        "column_0": "first_name",
        "column_1": "last_name",
        "column_2": "email",
        "column_3": "organization",
        "policy": "skip",
        "dry_run": "on",
        "tag_separator": ";",
    }
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(response["Location"], form)
    assert started["Location"] == f"/data/imports/{job.pk}/"
    job.refresh_from_db()
    assert (job.status, job.created_count, job.error_count) == (ImportStatus.COMPLETED, 1, 1)
    assert Contact.objects.count() == 0
    detail = client.get(started["Location"])
    assert (
        b"would be created" in detail.content and b"Enter a valid email address." in detail.content
    )
    errors = client.get(f"/data/imports/{job.pk}/errors.csv")
    assert b"".join(errors.streaming_content).decode("utf-8-sig").splitlines()[1] == (
        "3,Email,email,Enter a valid email address.,not-an-email"
    )
    with django_capture_on_commit_callbacks(execute=True):
        real = client.post(f"/data/imports/{job.pk}/run/")
    real_job = ImportJob.objects.exclude(pk=job.pk).get()
    assert real["Location"] == f"/data/imports/{real_job.pk}/"
    assert Contact.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/data/imports/{real_job.pk}/undo/")
    assert Contact.objects.count() == 0
    history = client.get("/data/imports/")
    assert b"people.csv" in history.content


def test_progress_fragment_polls_while_running(owner, web_client_for):
    job = ImportJob.objects.create(
        file_name="x.csv",
        file_sha256="0",
        created_by=owner,
        status=ImportStatus.RUNNING,
        total_rows=10,
        processed_rows=5,
    )
    fragment = web_client_for(owner).get(f"/data/imports/{job.pk}/", HTTP_HX_REQUEST="true")
    assert b'hx-trigger="every 1s"' in fragment.content
    assert b"<html" not in fragment.content


def test_imports_are_private_to_their_owner(owner, teammate, admin_user, web_client_for):
    job = ImportJob.objects.create(file_name="x.csv", file_sha256="0", created_by=owner)
    assert web_client_for(teammate).get(f"/data/imports/{job.pk}/").status_code == 404
    assert web_client_for(teammate).post(f"/data/imports/{job.pk}/undo/").status_code == 404
    # An administrator may open it (a job still waiting for its mapping redirects there).
    assert web_client_for(admin_user).get(f"/data/imports/{job.pk}/").status_code in (200, 302)


def test_read_only_role_cannot_upload(reader, web_client_for):
    response = web_client_for(reader).post(
        "/data/imports/upload/",
        {"entity": "contact", "file": SimpleUploadedFile("p.csv", HEADER.encode())},
    )
    assert response.status_code == 403
    assert ImportJob.objects.count() == 0


def test_bad_upload_is_shown_beside_the_field(owner, web_client_for):
    response = web_client_for(owner).post(
        "/data/imports/upload/",
        {"entity": "contact", "file": SimpleUploadedFile("p.csv", b"\xff\xfe")},
    )
    assert response.status_code == 422
    assert b"field-error" in response.content or b"form-errors" in response.content


def test_quality_page_and_records_behind(owner, admin_user, web_client_for):
    make_contact(actor=owner, owner=owner, first_name="Alan", last_name="Turing")
    make_contact(actor=owner, owner=owner, first_name="Ada", emails=["ada@e.org"])
    client = web_client_for(owner)
    page = client.get("/data/quality/")
    assert page.status_code == 200
    assert b"50.0 %" in page.content  # one of two has a usable identity
    assert b"/data/quality/records/identification/" in page.content
    assert b"shown to people who can see all contacts" in page.content
    records = client.get("/data/quality/records/identification/")
    assert b"Alan Turing" in records.content and b"ada@e.org" not in records.content
    missing = client.get("/data/quality/records/completeness/?field=email")
    assert b"Alan Turing" in missing.content
    assert client.get("/data/quality/records/nonsense/").status_code == 404
    assert client.get("/data/quality/records/completeness/?field=salary").status_code == 404
    admin_page = web_client_for(admin_user).get("/data/quality/")
    assert b"shown to people who can see all contacts" not in admin_page.content


def test_export_page_carries_the_filters(owner, web_client_for):
    response = web_client_for(owner).get("/data/export/?entity=contact&lifecycle_stage=customer")
    assert response.status_code == 200
    assert b'name="lifecycle_stage" value="customer"' in response.content


def test_the_360_page_shows_suspected_duplicates(owner, outsider, web_client_for, pair):
    page = page_with_panels(web_client_for(owner), pair.contact_a.get_absolute_url())
    assert f"/data/duplicates/contact/{pair.pk}/" in page
    assert f"/data/export/contacts/{pair.contact_a_id}.vcf" in page


def test_mark_two_contacts_as_one_from_the_360_page(owner, outsider, web_client_for):
    first = make_contact(actor=owner, owner=owner, first_name="Ada", emails=["ada@a.org"])
    second = make_contact(actor=owner, owner=owner, first_name="Countess", emails=["c@b.org"])
    theirs = make_contact(actor=outsider, owner=outsider, first_name="X", emails=["x@c.org"])
    client = web_client_for(owner)
    response = client.post(
        "/data/duplicates/contact/mark/", {"record": first.pk, "other": "C@B.org"}
    )
    pair = ContactDuplicate.objects.get(contact_a=first, contact_b=second)
    assert response["Location"] == f"/data/duplicates/contact/{pair.pk}/"
    assert pair.status == DuplicateStatus.PENDING and pair.reasons[-1] == "marked by " + str(owner)
    refused = client.post(
        "/data/duplicates/contact/mark/", {"record": first.pk, "other": theirs.pk}
    )
    assert refused.status_code == 302 and refused["Location"] == first.get_absolute_url()
    assert not ContactDuplicate.objects.filter(contact_b=theirs).exists()
    assert (
        client.post(
            "/data/duplicates/contact/mark/", {"record": theirs.pk, "other": first.pk}
        ).status_code
        == 404
    )


def test_the_survivor_names_what_was_merged_into_it(owner, web_client_for, pair):
    survivor = pair.contact_a
    client = web_client_for(owner)
    client.post(f"/data/duplicates/contact/{pair.pk}/merge/", {"survivor": survivor.pk})

    page = page_with_panels(client, survivor.get_absolute_url())
    assert "could not be shown" not in page
    assert "Merged into this record:" in page
    assert "Ada King" in page
