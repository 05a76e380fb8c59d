"""The quotas API: PUT by assignee and period (managers), scoped list, delete, attainment; field
errors as 422 naming what was sent; refusals write nothing."""

import datetime as dt

import pytest

from rapport.audit.models import ChangeRecord
from rapport.sales import quotas
from rapport.sales.models import Quota
from rapport.sales.tests.quota_helpers import MARCH

pytestmark = pytest.mark.django_db

URL = "/api/v1/quotas/"


def put(client, body):
    return client.put(URL, data=body, content_type="application/json")


def errors_of(response) -> dict:
    assert response.status_code == 422, response.content
    return {error["field"]: error["message"] for error in response.json()["errors"]}


def test_an_administrator_sets_a_quota_then_changes_it(api_client_for, admin_user, owner):
    client = api_client_for(admin_user)

    created = put(client, {"user_id": owner.pk, "period": "2025-03", "amount": "1000"})
    changed = put(
        client,
        {
            "user_id": owner.pk,
            "period_start": "2025-03-01",
            "period_end": "2025-03-31",
            "amount": 1250.5,
        },
    )

    assert created.status_code == 200, created.content
    body = changed.json()
    assert body["id"] == created.json()["id"]
    assert (body["amount"], body["currency"], body["period"], body["period_key"]) == (
        "1250.50",
        "EUR",
        "month",
        "2025-03",
    )
    assert (body["assignee"], body["period_label"], body["pipeline"]) == (
        str(owner),
        "March 2025",
        None,
    )
    assert Quota.objects.count() == 1


def test_a_rep_may_not_set_or_delete_a_quota_and_nothing_is_written(
    api_client_for, admin_user, owner, teammate
):
    quota = quotas.set_quota(
        actor=admin_user, user=teammate, amount="10", period_start=MARCH[0], period_end=MARCH[1]
    )
    client = api_client_for(owner)
    before = ChangeRecord.objects.count()

    refused = put(client, {"user_id": owner.pk, "period": "2025-03", "amount": "1000000"})
    removed = client.delete(f"{URL}{quota.pk}")
    unknown = client.delete(f"{URL}999999")

    assert [refused.status_code, removed.status_code, unknown.status_code] == [403, 403, 403]
    assert refused.json()["detail"] == "Only sales managers and administrators set quotas."
    assert list(Quota.objects.values_list("user_id", "amount")) == [(teammate.pk, 10)]
    assert ChangeRecord.objects.count() == before


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"amount": "0"}, "body.amount", "Must be greater than zero."),
        ({"amount": "-10"}, "body.amount", "Must not be negative."),
        ({"user_id": 999999}, "body.user_id", "No such person."),
        ({"team_id": 999999, "user_id": None}, "body.team_id", "No such team."),
        ({"pipeline_id": 999999}, "body.pipeline_id", "No such pipeline."),
        ({"period": "2025-13"}, "body.period", "Give a month as YYYY-MM"),
        (
            {"period": None, "period_start": "2025-03-01", "period_end": "2025-02-28"},
            "body.period_end",
            "Must be on or after the period's start.",
        ),
        ({"period": None}, "body.period", "Give a period:"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    api_client_for, admin_user, owner, body, field, message
):
    sent = {"user_id": owner.pk, "period": "2025-03", "amount": "100", **body}
    response = put(api_client_for(admin_user), sent)
    errors = errors_of(response)
    assert errors[field].startswith(message), errors
    assert not Quota.objects.exists()


def test_the_list_shows_only_quotas_within_the_callers_sales_scope(
    api_client_for, admin_user, owner, teammate, southerner
):
    for user in (owner, teammate, southerner):
        quotas.set_quota(
            actor=admin_user, user=user, amount="10", period_start=MARCH[0], period_end=MARCH[1]
        )

    def names(user, query=""):
        response = api_client_for(user).get(URL + query)
        assert response.status_code == 200, response.content
        return sorted(item["assignee"] for item in response.json()["items"])

    assert names(owner) == sorted([str(owner), str(teammate)])
    assert names(southerner) == [str(southerner)]
    assert names(admin_user, f"?user_id={southerner.pk}&period=2025-03") == [str(southerner)]
    assert names(admin_user, "?period=2025-04") == []
    assert errors_of(api_client_for(owner).get(URL + "?period=March")) == {
        "query.period": ("Give a month as YYYY-MM (2026-04) or a quarter as YYYY-Qn (2026-Q2).")
    }


def test_an_outsider_cannot_delete_what_they_cannot_see_and_an_admin_can(
    api_client_for, admin_user, owner
):
    quota = quotas.set_quota(
        actor=admin_user, user=owner, amount="10", period_start=MARCH[0], period_end=MARCH[1]
    )
    assert api_client_for(admin_user).delete(f"{URL}999999").status_code == 404
    assert api_client_for(admin_user).delete(f"{URL}{quota.pk}").status_code == 204
    assert not Quota.objects.exists()


def test_attainment_in_the_company_currency_with_the_missing_rate(
    api_client_for, admin_user, owner, southerner, close_deal, usd_rates
):
    for user in (owner, southerner):
        quotas.set_quota(
            actor=admin_user, user=user, amount="2000", period_start=MARCH[0], period_end=MARCH[1]
        )
    close_deal(owner, "1000.00", on=dt.date(2025, 3, 20), currency="USD")  # 800
    close_deal(owner, "50.00", on=dt.date(2025, 3, 2), currency="GBP")

    response = api_client_for(owner).get(f"{URL}attainment?period=2025-03")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["period_label"], body["currency"]) == ("March 2025", "EUR")
    [item] = body["items"]  # the southerner's quota is another team's
    assert item["quota"]["assignee"] == str(owner)
    assert (item["won"], item["percent"], item["won_deals"], item["complete"]) == (
        "800.00",
        "40.0",
        1,
        False,
    )
    assert item["missing_rates"] == [
        {
            "currency": "GBP",
            "earliest": "2025-03-02",
            "count": 1,
            "amount": "50.00",
            "text": "No GBP rate on or before 2025-03-02",
        }
    ]
    assert body["total"]["percent"] == "40.0"
