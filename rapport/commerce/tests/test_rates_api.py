"""/api/v1/exchange-rates and /api/v1/company-currency: everyone signed in reads, admins write."""

import pytest
from django.test import Client

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.commerce import rates
from rapport.commerce.models import CompanyCurrency, ExchangeRate

pytestmark = pytest.mark.django_db

BASE = "/api/v1/exchange-rates/"


@pytest.fixture
def read_only_user(db):
    role = RoleFactory(name="Read only", is_read_only=True, scopes={"contacts": "all"})
    return UserFactory(username="reader", role=role)


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


def test_an_administrator_adds_lists_and_deletes_rates(api_client_for, admin_user):
    client = api_client_for(admin_user)
    created = post(client, BASE, {"currency": "usd", "rate": "0.92", "valid_on": "2026-03-01"})
    assert created.status_code == 201
    body = created.json()
    assert {k: body[k] for k in ("currency", "to_currency", "valid_on", "source")} == {
        "currency": "USD",
        "to_currency": "EUR",
        "valid_on": "2026-03-01",
        "source": "entered",
    }
    assert float(body["rate"]) == 0.92
    post(client, BASE, {"currency": "GBP", "rate": "1.18", "valid_on": "2026-02-01"})
    listed = client.get(BASE).json()
    assert [(r["currency"], r["valid_on"]) for r in listed["items"]] == [
        ("USD", "2026-03-01"),
        ("GBP", "2026-02-01"),
    ]
    assert [r["currency"] for r in client.get(BASE + "?currency=gbp").json()["items"]] == ["GBP"]
    deleted = client.delete(f"/api/v1/exchange-rates/{body['id']}")
    assert deleted.status_code == 204
    assert list(ExchangeRate.objects.values_list("currency", flat=True)) == ["GBP"]


def test_a_rate_of_zero_or_less_is_a_422_naming_the_field(api_client_for, admin_user):
    client = api_client_for(admin_user)
    for value in ("0", "-2"):
        answer = post(client, BASE, {"currency": "USD", "rate": value, "valid_on": "2026-03-01"})
        assert answer.status_code == 422
        assert answer.json()["errors"] == [
            {"field": "body.rate", "message": "Must be greater than zero."}
        ]
    answer = post(client, BASE, {"currency": "EUR", "rate": "1", "valid_on": "2026-03-01"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "body.currency"
    answer = post(client, BASE, {"currency": "USD", "rate": "1", "valid_on": "March"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "body.valid_on"
    assert not ExchangeRate.objects.exists()


def test_everyone_signed_in_reads_but_only_administrators_write(api_client_for, admin_user, owner):
    rate = rates.add_rate(actor=admin_user, currency="USD", rate="0.9", valid_on="2026-01-01")
    client = api_client_for(owner)
    assert [r["id"] for r in client.get(BASE).json()["items"]] == [rate.pk]
    assert client.get("/api/v1/company-currency").json() == {"code": "EUR"}
    refused = post(client, BASE, {"currency": "GBP", "rate": "1.2", "valid_on": "2026-01-01"})
    assert refused.status_code == 403
    assert client.delete(f"/api/v1/exchange-rates/{rate.pk}").status_code == 403
    put = client.put("/api/v1/company-currency", {"code": "GBP"}, content_type="application/json")
    assert put.status_code == 403
    assert list(ExchangeRate.objects.values_list("currency", flat=True)) == ["USD"]
    assert not CompanyCurrency.objects.exists()
    assert Client().get(BASE).status_code == 401


def test_an_administrator_changes_the_company_currency(api_client_for, admin_user):
    client = api_client_for(admin_user)
    answer = client.put(
        "/api/v1/company-currency", {"code": "gbp"}, content_type="application/json"
    )
    assert (answer.status_code, answer.json()) == (200, {"code": "GBP"})
    assert client.get("/api/v1/company-currency").json() == {"code": "GBP"}
    bad = client.put("/api/v1/company-currency", {"code": "P1"}, content_type="application/json")
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        {"field": "body.code", "message": "Use a three-letter ISO 4217 code, e.g. EUR."}
    ]
    assert rates.company_currency() == "GBP"


def test_deleting_an_unknown_rate_is_404(api_client_for, admin_user):
    assert api_client_for(admin_user).delete("/api/v1/exchange-rates/999999").status_code == 404


def test_an_administrator_imports_an_ecb_file_through_the_api(api_client_for, admin_user, owner):
    text = "Date,USD,GBP,\n2026-02-02,1.25,0.80,\n2026-02-03,x,0.81,\n"
    refused = post(api_client_for(owner), BASE + "import", {"csv": text})
    assert refused.status_code == 403
    assert not ExchangeRate.objects.exists()
    answer = post(api_client_for(admin_user), BASE + "import", {"csv": text})
    assert answer.status_code == 200
    assert answer.json() == {
        "created": 2,
        "updated": 0,
        "problems": [{"line": 3, "message": "Not a positive rate: USD “x”; the row was skipped."}],
    }
    assert sorted(ExchangeRate.objects.values_list("currency", "source")) == [
        ("GBP", "imported"),
        ("USD", "imported"),
    ]


def test_a_caller_who_may_not_delete_gets_the_same_answer_whether_or_not_the_rate_exists(
    api_client_for, admin_user, owner, read_only_user
):
    rate = rates.add_rate(actor=admin_user, currency="USD", rate="0.9", valid_on="2026-01-01")
    for person in (owner, read_only_user):
        client = api_client_for(person)
        existing = client.delete(f"{BASE}{rate.pk}")
        missing = client.delete(f"{BASE}999999")
        assert (existing.status_code, missing.status_code) == (403, 403)
        assert existing.json() == missing.json()
    assert ExchangeRate.objects.filter(pk=rate.pk).exists()


def test_read_only_users_read_the_rates_and_the_company_currency(
    api_client_for, admin_user, read_only_user
):
    rate = rates.add_rate(actor=admin_user, currency="USD", rate="0.9", valid_on="2026-01-01")
    client = api_client_for(read_only_user)
    assert [r["id"] for r in client.get(BASE).json()["items"]] == [rate.pk]
    assert client.get("/api/v1/company-currency").json() == {"code": "EUR"}
