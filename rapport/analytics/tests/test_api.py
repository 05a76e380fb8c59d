import pytest
from django.core.cache import cache
from django.test import Client

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.analytics import services
from rapport.analytics.models import Segment
from rapport.contacts.tests.factories import make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


@pytest.fixture
def reader(db):
    role = RoleFactory(name="Read only", is_read_only=True, scopes={"contacts": "all"})
    return UserFactory(username="reader", role=role)


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 200), ("teammate", 200), ("outsider", 404), ("admin_user", 200)]
)
def test_contact_analytics_access_matrix(
    request, api_client_for, refreshed, book_contacts, who, status
):
    client = api_client_for(request.getfixturevalue(who))
    response = client.get(f"/api/v1/contacts/{book_contacts['C1'].pk}/analytics")
    assert response.status_code == status
    if status == 200:
        body = response.json()
        assert body["available"] is True
        assert (body["rfm_segment"], body["r_score"], body["f_score"], body["m_score"]) == (
            "Champions",
            5,
            5,
            3,
        )
        assert body["revenue_total"] == 300.0
        assert body["predicted_clv"] is None and body["p_alive"] is None
        assert any("needs at least 30" in note for note in body["model_notes"])


def test_contact_analytics_anonymous_and_not_a_customer(api_client_for, owner, refreshed):
    lead = make_contact(owner=owner, first_name="Lead")
    assert Client().get(f"/api/v1/contacts/{lead.pk}/analytics").status_code == 401
    body = api_client_for(owner).get(f"/api/v1/contacts/{lead.pk}/analytics").json()
    assert body["available"] is False
    assert body["reason"].startswith("No paid or shipped order in EUR")


def test_customers_endpoint_filters_sorts_and_scopes(api_client_for, owner, outsider, refreshed):
    client = api_client_for(owner)
    body = client.get("/api/v1/analytics/customers?tier=silver&sort=-revenue").json()
    assert [item["name"] for item in body["items"]] == ["C8 Customer", "C2 Customer"]
    assert body["sort"] == "-revenue"
    page = client.get("/api/v1/analytics/customers?limit=4&sort=-revenue").json()
    second = client.get(
        f"/api/v1/analytics/customers?limit=4&sort=-revenue&cursor={page['next_cursor']}"
    ).json()
    assert len({i["contact_id"] for i in page["items"] + second["items"]}) == 8
    assert api_client_for(outsider).get("/api/v1/analytics/customers").json()["items"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("r=9", "query.r"),
        ("sort=bogus", "query.sort"),
        ("cohort=2024-13", "query.cohort"),
        ("cursor=garbage", "query.cursor"),
        ("tier=diamond", "query.tier"),
        ("limit=100000", "query.limit"),
    ],
)
def test_customers_endpoint_bad_input(api_client_for, owner, refreshed, query, field):
    response = api_client_for(owner).get(f"/api/v1/analytics/customers?{query}")
    # A damaged cursor is a bad request (400); the rest are invalid values (422).
    assert response.status_code == (400 if field == "query.cursor" else 422)
    assert field in [error["field"] for error in response.json()["errors"]]


def test_book_figures_endpoints(api_client_for, owner, admin_user, refreshed):
    client = api_client_for(owner)
    summary = client.get("/api/v1/analytics/summary").json()
    assert summary["customers"] == 10 and summary["whole_book"] is False
    for name in ("rfm", "pareto", "clv", "cohorts"):
        mine = client.get(f"/api/v1/analytics/{name}").json()
        stored = api_client_for(admin_user).get(f"/api/v1/analytics/{name}").json()
        assert mine["data"] == stored["data"], name
        assert stored["whole_book"] is True
    fits = client.get("/api/v1/analytics/model-fit").json()
    assert {fit["model"]: fit["status"] for fit in fits["fits"]} == {
        "bg_nbd": "insufficient_data",
        "gamma_gamma": "insufficient_data",
        "bg_nbd_holdout": "insufficient_data",
    }


def test_figures_before_any_refresh_are_404(api_client_for, owner):
    response = api_client_for(owner).get("/api/v1/analytics/rfm")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_refresh_endpoint(
    api_client_for, owner, reader, book_contacts, django_capture_on_commit_callbacks
):
    assert api_client_for(reader).post("/api/v1/analytics/refresh").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client_for(owner).post("/api/v1/analytics/refresh")
    assert response.status_code == 202
    run_id = response.json()["id"]
    run = api_client_for(owner).get(f"/api/v1/analytics/runs/{run_id}").json()
    assert run["status"] == "succeeded" and run["n_customers"] == 10
    assert Client().post("/api/v1/analytics/refresh").status_code == 401


def test_settings_endpoint_is_admin_only_for_writes(api_client_for, owner, admin_user):
    assert api_client_for(owner).get("/api/v1/analytics/settings").status_code == 200
    response = api_client_for(owner).patch(
        "/api/v1/analytics/settings", {"gold_share": 0.1}, content_type="application/json"
    )
    assert response.status_code == 403
    response = api_client_for(admin_user).patch(
        "/api/v1/analytics/settings", {"gold_share": 0.5}, content_type="application/json"
    )
    assert response.status_code == 422
    response = api_client_for(admin_user).patch(
        "/api/v1/analytics/settings", {"gold_share": 0.1}, content_type="application/json"
    )
    assert response.json()["gold_share"] == 0.1


def test_segments_crud_with_counts(api_client_for, owner, teammate, outsider, refreshed):
    client = api_client_for(owner)
    payload = {
        "name": "Lost ones",
        "conditions": {"all": [{"field": "analytics.segment", "op": "eq", "value": "Lost"}]},
    }
    response = client.post("/api/v1/segments/", payload, content_type="application/json")
    assert response.status_code == 201, response.content
    segment = response.json()
    assert segment["count"] == 2
    assert api_client_for(outsider).get(f"/api/v1/segments/{segment['id']}").json()["count"] == 0
    members = client.get(f"/api/v1/segments/{segment['id']}/members").json()
    assert sorted(m["name"] for m in members["items"]) == ["C10 Customer", "C9 Customer"]
    response = api_client_for(teammate).patch(
        f"/api/v1/segments/{segment['id']}", {"name": "Mine"}, content_type="application/json"
    )
    assert response.status_code == 403
    response = client.patch(
        f"/api/v1/segments/{segment['id']}",
        {"conditions": {"all": [{"field": "analytics.r_score", "op": "gte", "value": 4}]}},
        content_type="application/json",
    )
    assert response.json()["count"] == 4
    listed = client.get("/api/v1/segments/?with_counts=true").json()
    assert [(s["name"], s["count"]) for s in listed] == [("Lost ones", 4)]
    assert client.delete(f"/api/v1/segments/{segment['id']}").status_code == 204
    assert client.get(f"/api/v1/segments/{segment['id']}").status_code == 404


def test_segment_bad_conditions_and_preview(api_client_for, owner, refreshed):
    client = api_client_for(owner)
    bad = {"name": "Bad", "conditions": {"any": [{"field": "tags", "op": "gt", "value": "x"}]}}
    response = client.post("/api/v1/segments/", bad, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.conditions.any[0].op"
    response = client.post(
        "/api/v1/segments/preview",
        {"conditions": {"all": [{"field": "analytics.value_tier", "op": "eq", "value": "silver"}]}},
        content_type="application/json",
    )
    assert response.json() == {"count": 2}
    response = client.post(
        "/api/v1/segments/preview",
        {"conditions": {"all": [{"field": "nope", "op": "eq", "value": 1}]}},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.conditions.all[0].field"
    fields = {f["name"]: f for f in client.get("/api/v1/segments/fields").json()}
    assert "orders.category_90_days" in fields and "interactions.days_since_touch" in fields
    assert fields["analytics.value_tier"]["choices"][0] == ["platinum", "Platinum"]


def test_static_list_members_api(api_client_for, owner, outsider, book_contacts):
    client = api_client_for(owner)
    created = client.post(
        "/api/v1/segments/", {"name": "Calls", "kind": "static"}, content_type="application/json"
    ).json()
    ids = [book_contacts["C1"].pk, book_contacts["C2"].pk]
    response = client.post(
        f"/api/v1/segments/{created['id']}/members",
        {"contact_ids": ids},
        content_type="application/json",
    )
    assert response.json() == {"changed": 2}
    hidden = make_contact(owner=outsider, first_name="Hidden")
    response = client.post(
        f"/api/v1/segments/{created['id']}/members",
        {"contact_ids": [hidden.pk]},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.contact_ids"
    response = client.delete(f"/api/v1/segments/{created['id']}/members/{book_contacts['C1'].pk}")
    assert response.json() == {"changed": 1}
    assert client.get(f"/api/v1/segments/{created['id']}").json()["count"] == 1
    segment = Segment.objects.get(pk=created["id"])
    assert services.add_to_list(actor=owner, segment=segment, contact_ids=ids) == 1
