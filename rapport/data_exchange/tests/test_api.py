"""The identity and data-exchange API: the permission matrix, merge with preview, imports
over multipart, exports, data quality, and the 422 shape of bad input."""

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact
from rapport.core.tests import api_matrix
from rapport.core.tests.api_matrix import (
    ACTORS,
    Call,
    admin_write,
    assert_answer,
    collection_read,
    record_read,
    record_write,
)
from rapport.data_exchange.choices import ImportStatus
from rapport.data_exchange.models import ContactDuplicate, ImportJob

pytestmark = pytest.mark.django_db
client_as, people, read_only_user = (
    api_matrix.client_as,
    api_matrix.people,
    api_matrix.read_only_user,
)


@pytest.fixture
def pair(owner):
    a = make_contact(
        actor=owner, owner=owner, first_name="Ada", last_name="Lovelace", emails=["ada@engines.org"]
    )
    b = make_contact(
        actor=owner,
        owner=owner,
        first_name="Ada",
        last_name="King",
        emails=["ada@engines.org"],
        job_title="Countess",
    )
    ContactDuplicate.objects.all().delete()
    return ContactDuplicate.objects.create(
        contact_a=a, contact_b=b, score=0.95, reasons=["same email"]
    )


def fresh_pair(owner):
    a = make_contact(actor=owner, owner=owner, first_name="X", emails=["x@e.org"])
    b = make_contact(actor=owner, owner=owner, first_name="X", emails=["x@e.org"])
    ContactDuplicate.objects.filter(contact_a=a, contact_b=b).delete()
    return ContactDuplicate.objects.create(contact_a=a, contact_b=b, score=0.95, reasons=["x"])


@pytest.mark.parametrize("actor", ACTORS)
def test_duplicate_list_matrix(client_as, actor, pair):
    response = assert_answer(
        client_as, actor, Call("GET", "/api/v1/duplicates/"), collection_read()[actor]
    )
    if response.status_code == 200:
        ids = [item["id"] for item in response.json()["items"]]
        assert ids == ([] if actor == "outsider" else [pair.pk])


@pytest.mark.parametrize("actor", ACTORS)
def test_merge_matrix(client_as, actor, owner):
    pair = fresh_pair(owner)
    call = Call(
        "POST", f"/api/v1/duplicates/contact/{pair.pk}/merge", {"survivor_id": pair.contact_a_id}
    )
    assert_answer(client_as, actor, call, record_write()[actor])
    survived = Contact.objects.filter(pk=pair.contact_b_id).exists()
    assert survived == (record_write()[actor] != 200)


@pytest.mark.parametrize("actor", ACTORS)
def test_dismiss_matrix(client_as, actor, owner):
    pair = fresh_pair(owner)
    call = Call("POST", f"/api/v1/duplicates/contact/{pair.pk}/dismiss")
    assert_answer(client_as, actor, call, record_write()[actor])


@pytest.mark.parametrize("actor", ACTORS)
def test_rules_matrix(client_as, actor):
    body = {
        "rules": [{"field": "email", "method": "exact", "weight": 0.95}],
        "review_threshold": 0.75,
        "import_match_threshold": 0.9,
    }
    assert_answer(
        client_as,
        actor,
        Call("PUT", "/api/v1/matching-rules/contact", body),
        admin_write(200)[actor],
    )


def test_merge_preview_then_merge(client_as, pair):
    client = client_as("owner")
    url = f"/api/v1/duplicates/contact/{pair.pk}/merge"
    body = {"survivor_id": pair.contact_a_id, "choices": {"last_name": "loser"}, "preview": True}
    preview = client.post(url, json.dumps(body), content_type="application/json")
    assert preview.status_code == 200
    fields = {f["name"]: f for f in preview.json()["fields"]}
    assert fields["last_name"]["chosen"] == "loser"
    assert fields["job_title"]["chosen"] == "loser"  # the survivor's is empty
    assert Contact.objects.filter(pk=pair.contact_b_id).exists()
    body["preview"] = False
    merged = client.post(url, json.dumps(body), content_type="application/json")
    assert merged.status_code == 200
    assert merged.json()["loser_deleted"] is True
    survivor = Contact.objects.get(pk=pair.contact_a_id)
    assert (survivor.last_name, survivor.job_title) == ("King", "Countess")


def test_merge_input_errors_are_422_with_the_field(client_as, pair):
    client = client_as("owner")
    url = f"/api/v1/duplicates/contact/{pair.pk}/merge"
    cases = [
        ({"survivor_id": 999999}, "body.survivor_id"),
        ({"survivor_id": pair.contact_a_id, "choices": {"salary": "loser"}}, "body.choices.salary"),
        (
            {"survivor_id": pair.contact_a_id, "choices": {"last_name": "both"}},
            "body.choices.last_name",
        ),
        ({"survivor_id": pair.contact_a_id, "surprise": 1}, "body.surprise"),
    ]
    for body, field in cases:
        response = client.post(url, json.dumps(body), content_type="application/json")
        assert response.status_code == 422, body
        assert response["Content-Type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]], response.json()
    assert Contact.objects.count() == 2


def test_rules_put_validates(client_as):
    client = client_as("admin")
    body = {
        "rules": [{"field": "email", "method": "fuzzy", "weight": 0.95}],
        "review_threshold": 0.75,
        "import_match_threshold": 0.5,
    }
    response = client.put(
        "/api/v1/matching-rules/contact", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"body.rules[0].method", "body.import_match_threshold"}
    assert client.get("/api/v1/matching-rules/contact").json()["review_threshold"] == 0.75


CSV = "First Name,Last Name,Email\r\nAda,Lovelace,ada@e.org\r\nBad,Row,nope\r\n"


def test_import_over_the_api(client_as, django_capture_on_commit_callbacks):
    client = client_as("owner")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/imports/",
            {
                "file": SimpleUploadedFile("p.csv", CSV.encode()),
                "dry_run": "false",
                "policy": "skip",
                "options": json.dumps({"external_id_system": "web"}),
            },
        )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    status = client.get(f"/api/v1/imports/{job_id}").json()
    assert (status["status"], status["created"], status["errors"], status["dry_run"]) == (
        ImportStatus.COMPLETED,
        1,
        1,
        False,
    )
    assert status["mapping"] == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
    }
    rows = client.get(f"/api/v1/imports/{job_id}/rows?action=error").json()["items"]
    assert rows[0]["row"] == 3
    assert rows[0]["errors"][0]["column"] == "Email"
    report = client.get(f"/api/v1/imports/{job_id}/errors.csv")
    text = b"".join(report.streaming_content).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text)))[1] == [
        "3",
        "Email",
        "email",
        "Enter a valid email address.",
        "nope",
    ]
    assert client_as("outsider").get(f"/api/v1/imports/{job_id}").status_code == 404
    assert client_as("admin").get(f"/api/v1/imports/{job_id}").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        undo = client.post(f"/api/v1/imports/{job_id}/undo")
    assert undo.status_code == 202
    assert client.get(f"/api/v1/imports/{job_id}").json()["status"] == ImportStatus.UNDONE
    assert Contact.objects.count() == 0


def test_import_refusals(client_as):
    owner = client_as("owner")
    response = owner.post(
        "/api/v1/imports/",
        {"file": SimpleUploadedFile("p.csv", CSV.encode()), "mapping": "{not json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.mapping"
    response = owner.post(
        "/api/v1/imports/", {"file": SimpleUploadedFile("p.csv", CSV.encode()), "policy": "merge"}
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "body.policy"
    response = owner.post(
        "/api/v1/imports/", {"file": SimpleUploadedFile("p.csv", CSV.encode()), "preset": "missing"}
    )
    assert response.status_code == 422
    viewer = client_as("read_only")
    response = viewer.post("/api/v1/imports/", {"file": SimpleUploadedFile("p.csv", CSV.encode())})
    assert response.status_code == 403
    assert ImportJob.objects.count() == 0


def test_importers_describe_their_fields(client_as):
    importers = {i["entity"]: i for i in client_as("owner").get("/api/v1/importers/").json()}
    assert {"contact", "organization"} <= set(importers)
    keys = {t["key"] for t in importers["contact"]["targets"]}
    assert {"email", "phone", "organization", "tags", "owner", "external_id"} <= keys


def test_presets_over_the_api(client_as):
    client = client_as("owner")
    body = {"name": "Fair", "mapping": {"Mail": "email"}, "options": {"tag_separator": ","}}
    response = client.post(
        "/api/v1/mapping-presets/", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 201
    assert [p["name"] for p in client.get("/api/v1/mapping-presets/").json()] == ["Fair"]
    bad = client.post(
        "/api/v1/mapping-presets/",
        json.dumps({**body, "mapping": {"Mail": "x"}}),
        content_type="application/json",
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.mapping.Mail"


def test_exports_over_the_api(client_as, owner, outsider):
    make_contact(actor=owner, owner=owner, first_name="=Mine", lifecycle_stage="customer")
    make_contact(actor=outsider, owner=outsider, first_name="Theirs", lifecycle_stage="customer")
    client = client_as("owner")
    response = client.get("/api/v1/exports/contacts?columns=first_name&lifecycle_stage=customer")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert text.splitlines() == ["First name", "'=Mine"]
    xlsx = client.get("/api/v1/exports/organizations?format=xlsx")
    assert xlsx.status_code == 200
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
    bad = client.get("/api/v1/exports/contacts?columns=salary")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.columns"
    typo = client.get("/api/v1/exports/contacts?lifecycle=customer")
    assert typo.status_code == 422 and typo.json()["errors"][0]["field"] == "query.lifecycle"
    assert client_as("anonymous").get("/api/v1/exports/contacts").status_code == 401


@pytest.mark.parametrize("actor", ACTORS)
def test_vcard_matrix(client_as, actor, owner):
    contact = make_contact(actor=owner, owner=owner, first_name="Ada")
    response = assert_answer(
        client_as,
        actor,
        Call("GET", f"/api/v1/exports/contacts/{contact.pk}/vcard"),
        record_read()[actor],
    )
    if response.status_code == 200:
        assert response.content.startswith(b"BEGIN:VCARD\r\nVERSION:4.0")


def test_data_quality_over_the_api(client_as, owner):
    make_contact(actor=owner, owner=owner, first_name="Ada", emails=["ada@e.org"])
    make_contact(actor=owner, owner=owner, first_name="Alan")
    body = client_as("owner").get("/api/v1/data-quality").json()
    assert body["contacts"] == 2
    identification = body["figures"]["identification_rate"]
    assert (identification["numerator"], identification["denominator"]) == (1, 2)
    assert identification["percent"] == 50.0
    assert identification["records_url"] == "/data/quality/records/identification/"
    assert body["figures"]["contact_completeness.email"]["records_url"] == (
        "/data/quality/records/completeness/?field=email"
    )
    outsider = client_as("outsider").get("/api/v1/data-quality").json()
    assert outsider["contacts"] == 0
    assert outsider["figures"]["identification_rate"]["value"] is None
    assert client_as("owner").get("/api/v1/data-quality/trend").status_code == 403
    assert client_as("admin").get("/api/v1/data-quality/trend").status_code == 200


@pytest.mark.parametrize("actor", ACTORS)
def test_mark_matrix(client_as, actor, owner):
    first = make_contact(actor=owner, owner=owner, first_name="A", emails=["a@one.org"])
    second = make_contact(actor=owner, owner=owner, first_name="B", emails=["b@two.org"])
    ContactDuplicate.objects.all().delete()
    call = Call(
        "POST", "/api/v1/duplicates/contact/mark", {"first_id": first.pk, "second_id": second.pk}
    )
    response = assert_answer(client_as, actor, call, record_write(201)[actor])
    if response.status_code == 201:
        assert [r["id"] for r in response.json()["records"]] == [first.pk, second.pk]
