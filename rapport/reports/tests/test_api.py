"""The reports API: CRUD, results over the caller's records, and 4xx answers naming fields."""

import json

import pytest

from rapport.audit.models import ChangeRecord
from rapport.contacts.tests.factories import make_contact
from rapport.reports import services
from rapport.reports.models import Report

pytestmark = pytest.mark.django_db

BODY = {"name": "By source", "source": "contacts", "group_by": "source"}


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_create_read_update_and_delete(owner, api_client_for, other_team):
    client = api_client_for(owner)
    created = post(client, "/api/v1/reports", {**BODY, "shared_teams": [other_team.pk]})
    assert created.status_code == 201, created.content
    report_id = created.json()["id"]
    assert created.json()["shared_teams"] == [other_team.pk]
    assert client.get("/api/v1/reports").json()[0]["name"] == "By source"
    patched = client.patch(
        f"/api/v1/reports/{report_id}",
        data=json.dumps({"chart": "pie", "group_by": "lifecycle_stage"}),
        content_type="application/json",
    )
    assert patched.status_code == 200
    assert (patched.json()["chart"], patched.json()["group_by"]) == ("pie", "lifecycle_stage")
    assert client.delete(f"/api/v1/reports/{report_id}").status_code == 204
    assert not Report.objects.exists()


def test_results_count_only_the_callers_records(owner, outsider, other_team, api_client_for):
    make_contact(owner=owner, source="web_form")
    make_contact(owner=owner, source="web_form")
    make_contact(owner=outsider, source="web_form")
    report = services.create_report(actor=owner, shared_teams=[other_team.pk], **BODY)
    mine = api_client_for(owner).get(f"/api/v1/reports/{report.pk}/results").json()
    theirs = api_client_for(outsider).get(f"/api/v1/reports/{report.pk}/results").json()
    assert [(f["group"], f["value"]) for f in mine["figures"]] == [("Web form", 2)]
    assert [(f["group"], f["value"]) for f in theirs["figures"]] == [("Web form", 1)]
    assert mine["figures"][0]["group_key"] == "web_form"
    assert mine["groupings"] == [{"field": "source", "label": "Source", "period": ""}]
    assert mine["measure"] == "Number of contacts" and mine["total"] == 2


def test_an_outsider_gets_404_on_a_report_not_shared_with_them(owner, outsider, api_client_for):
    report = services.create_report(actor=owner, **BODY)
    client = api_client_for(outsider)
    before = ChangeRecord.objects.count()
    for method, suffix in (("get", ""), ("get", "/results"), ("delete", "")):
        response = getattr(client, method)(f"/api/v1/reports/{report.pk}{suffix}")
        assert response.status_code == 404
    response = client.patch(
        f"/api/v1/reports/{report.pk}",
        data=json.dumps({"name": "x"}),
        content_type="application/json",
    )
    assert response.status_code == 404
    assert ChangeRecord.objects.count() == before
    assert client.get("/api/v1/reports").json() == []


def test_a_read_only_user_cannot_create(read_only_user, api_client_for):
    response = post(api_client_for(read_only_user), "/api/v1/reports", BODY)
    assert response.status_code == 403
    assert not Report.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"group_by": "shoe_size"}, "group_by", "Unknown field “shoe_size”"),
        ({"measure": "sum", "measure_field": "city"}, "measure_field", "City is not a number"),
        (
            {"source": "planets"},
            "source",
            "Choose one of: Contacts, Leads, Organizations, Deals, Orders, Order lines, Tasks, Interactions.",
        ),
        ({"chart": "radar"}, "chart", "Choose one of"),
        ({"group_period": "fortnight", "group_by": "created"}, "group_period", "Choose one of"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(owner, api_client_for, changes, field, words):
    response = post(api_client_for(owner), "/api/v1/reports", {**BODY, **changes})
    assert response.status_code == 422
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert words in errors[f"body.{field}"]
    assert not Report.objects.exists()


def test_fields_lists_groupable_and_measurable_fields_by_label(owner, api_client_for):
    sources = {s["source"]: s for s in api_client_for(owner).get("/api/v1/reports/fields").json()}
    deals = sources["deals"]
    assert {"name": "amount", "label": "Amount", "kind": "money"} in deals["measure_fields"]
    assert "stage" in {f["name"] for f in deals["group_fields"]}
    assert "email" not in {f["name"] for f in sources["contacts"]["group_fields"]}
