"""The sales API: the access matrix, bad input, stage moves, board, forecast, analytics, leads."""

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from rapport.sales.models import Deal, DealStageChange, Task
from rapport.sales.scoring.services import create_scoring_rule
from rapport.sales.services import work
from rapport.sales.services.deals import move_deal

pytestmark = pytest.mark.django_db


def as_json(client, method, url, body=None, **extra):
    return getattr(client, method)(
        url,
        json.dumps(body) if body is not None else None,
        content_type="application/json",
        **extra,
    )


@pytest.fixture
def deal(make_deal, owner, lead):
    return make_deal(owner=owner, name="Acme expansion", amount="5000.00", contact=lead)


# -- the access matrix -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("owner", 200),
        ("teammate", 200),
        ("outsider", 404),
        ("admin_user", 200),
        ("read_only_user", 200),
    ],
)
def test_reading_a_deal(request, api_client_for, deal, who, status):
    client = api_client_for(request.getfixturevalue(who))
    assert client.get(f"/api/v1/deals/{deal.pk}").status_code == status


def test_anonymous_gets_401_everywhere(deal, pipeline):
    client = Client()
    for url in [
        "/api/v1/deals/",
        f"/api/v1/deals/{deal.pk}",
        f"/api/v1/pipelines/{pipeline.pk}/board",
        "/api/v1/leads/",
        "/api/v1/tasks/",
        "/api/v1/scoring/model",
    ]:
        response = client.get(url)
        assert response.status_code == 401, url
        assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("who", "status"),
    [("owner", 200), ("teammate", 200), ("outsider", 404), ("read_only_user", 403)],
)
def test_moving_a_deal(request, api_client_for, deal, stages, who, status):
    client = api_client_for(request.getfixturevalue(who))
    response = as_json(
        client, "post", f"/api/v1/deals/{deal.pk}/move", {"stage_id": stages["Proposal"].pk}
    )
    assert response.status_code == status
    deal.refresh_from_db()
    assert (deal.stage == stages["Proposal"]) is (status == 200)


def test_list_only_shows_deals_in_scope(api_client_for, make_deal, owner, teammate, outsider):
    make_deal(owner=owner, name="Mine")
    make_deal(owner=teammate, name="Team's")
    make_deal(owner=outsider, name="Theirs")
    names = lambda user: sorted(  # noqa: E731
        d["name"] for d in api_client_for(user).get("/api/v1/deals/").json()["items"]
    )
    assert names(owner) == ["Mine", "Team's"]
    assert names(outsider) == ["Theirs"]


def test_configuration_is_for_administrators(api_client_for, owner, admin_user, pipeline):
    client = api_client_for(owner)
    assert as_json(client, "post", "/api/v1/pipelines/", {"name": "Mine"}).status_code == 403
    assert (
        as_json(client, "post", "/api/v1/web-forms/", {"name": "F", "fields": []}).status_code
        == 403
    )
    assert client.get("/api/v1/web-forms/").status_code == 403
    assert (
        as_json(
            client, "post", "/api/v1/scoring/rules/", {"name": "r", "condition": {}, "points": 1}
        ).status_code
        == 403
    )
    assert client.post("/api/v1/scoring/model/retrain").status_code == 403
    admin = api_client_for(admin_user)
    created = as_json(admin, "post", "/api/v1/pipelines/", {"name": "Partners", "currency": "USD"})
    assert created.status_code == 201
    assert [s["kind"] for s in created.json()["stages"]][-2:] == ["won", "lost"]


# -- writes and bad input ----------------------------------------------------------------------


def test_create_deal_and_errors_name_the_field(api_client_for, owner, outsider, pipeline, lead):
    client = api_client_for(owner)
    good = as_json(
        client,
        "post",
        "/api/v1/deals/",
        {
            "name": "API deal",
            "pipeline_id": pipeline.pk,
            "amount": "1200.50",
            "expected_close_date": "2030-03-01",
            "contact_id": lead.pk,
            "products": ["Gold plan"],
        },
    )
    assert good.status_code == 201
    body = good.json()
    assert body["amount"] == "1200.50" and body["stage"] == "Qualification"
    assert body["weighted_amount"] == "120.05" and body["owner_id"] == owner.pk

    bad = as_json(
        client,
        "post",
        "/api/v1/deals/",
        {"name": "x", "pipeline_id": pipeline.pk, "expected_close_date": "soon", "colour": "red"},
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert any(f.endswith("expected_close_date") for f in fields)
    assert any(f.endswith("colour") for f in fields)

    negative = as_json(
        client,
        "post",
        "/api/v1/deals/",
        {
            "name": "x",
            "pipeline_id": pipeline.pk,
            "expected_close_date": "2030-01-01",
            "amount": "-3",
        },
    )
    assert negative.status_code == 422
    assert negative.json()["errors"] == [
        {"field": "body.amount", "message": "Must not be negative."}
    ]

    # someone else's owner or a contact outside the scope is refused by field
    foreign_owner = as_json(
        client,
        "post",
        "/api/v1/deals/",
        {
            "name": "x",
            "pipeline_id": pipeline.pk,
            "expected_close_date": "2030-01-01",
            "owner_id": outsider.pk,
        },
    )
    assert foreign_owner.status_code == 422
    assert foreign_owner.json()["errors"][0]["field"] == "body.owner_id"
    hidden_contact = as_json(
        api_client_for(outsider),
        "post",
        "/api/v1/deals/",
        {
            "name": "x",
            "pipeline_id": pipeline.pk,
            "expected_close_date": "2030-01-01",
            "contact_id": lead.pk,
        },
    )
    assert hidden_contact.status_code == 422
    assert hidden_contact.json()["errors"][0]["field"] == "body.contact_id"
    assert Deal.objects.count() == 1


def test_idempotency_key_makes_a_retried_create_write_once(api_client_for, owner, pipeline):
    client = api_client_for(owner)
    body = {"name": "Once", "pipeline_id": pipeline.pk, "expected_close_date": "2030-01-01"}
    first = as_json(client, "post", "/api/v1/deals/", body, HTTP_IDEMPOTENCY_KEY="k-1")
    again = as_json(client, "post", "/api/v1/deals/", body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert Deal.objects.filter(name="Once").count() == 1


def test_move_to_lost_needs_a_reason_and_undo_restores(
    api_client_for, owner, deal, stages, lost_reason
):
    client = api_client_for(owner)
    refused = as_json(
        client, "post", f"/api/v1/deals/{deal.pk}/move", {"stage_id": stages["Lost"].pk}
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"field": "body.lost_reason", "message": "Choose why the deal was lost."}
    ]
    moved = as_json(
        client,
        "post",
        f"/api/v1/deals/{deal.pk}/move",
        {"stage_id": stages["Lost"].pk, "lost_reason_id": lost_reason.pk},
    )
    assert moved.status_code == 200
    body = moved.json()
    assert body["deal"]["status"] == "lost" and body["moved"] is True
    columns = {c["stage_id"]: c["count"] for c in body["columns"]}
    assert columns == {stages["Qualification"].pk: 0, stages["Lost"].pk: 1}
    undone = as_json(
        client, "post", f"/api/v1/deals/{deal.pk}/undo-move", {"change_id": body["change_id"]}
    )
    assert undone.status_code == 200
    assert undone.json()["deal"]["stage"] == "Qualification"
    history = client.get(f"/api/v1/deals/{deal.pk}/history").json()
    assert [h["to_stage"] for h in history] == ["Qualification"]


def test_board_counts_totals_and_pages(
    api_client_for, owner, teammate, make_deal, stages, pipeline, django_assert_max_num_queries
):
    for i in range(7):
        make_deal(
            owner=owner, name=f"Q{i}", amount="100.00", expected_close_date=dt.date(2030, 1, 1 + i)
        )
    make_deal(
        owner=teammate,
        name="USD one",
        amount="50.00",
        currency="USD",
        expected_close_date=dt.date(2030, 2, 1),
    )
    make_deal(
        owner=owner,
        name="P",
        amount="1000.00",
        stage=stages["Proposal"],
        expected_close_date=dt.date(2030, 2, 1),
    )
    client = api_client_for(owner)
    with django_assert_max_num_queries(12):
        board = client.get(f"/api/v1/pipelines/{pipeline.pk}/board?limit=3").json()
    first = board["columns"][0]
    assert first["stage"]["name"] == "Qualification"
    assert first["count"] == 8
    assert first["totals"] == [
        {"currency": "EUR", "amount": "700.00"},
        {"currency": "USD", "amount": "50.00"},
    ]
    assert first["weighted"][0] == {"currency": "EUR", "amount": "70.00"}
    assert [d["name"] for d in first["deals"]] == ["Q0", "Q1", "Q2"]
    page = client.get(
        f"/api/v1/pipelines/{pipeline.pk}/board/stages/{stages['Qualification'].pk}"
        f"?limit=3&cursor={first['next_cursor']}"
    ).json()
    assert [d["name"] for d in page["items"]] == ["Q3", "Q4", "Q5"]
    filtered = client.get(
        f"/api/v1/pipelines/{pipeline.pk}/board?owner_id={teammate.pk}&close_month=2030-02"
    ).json()
    assert [c["count"] for c in filtered["columns"]][:3] == [1, 0, 0]
    bad = client.get(f"/api/v1/pipelines/{pipeline.pk}/board?close_month=Feb")
    assert bad.status_code == 422


def test_forecast_and_analytics_on_a_real_history(
    api_client_for, owner, make_deal, stages, pipeline
):
    start = timezone.now() - dt.timedelta(days=30)
    this_month = timezone.localdate().replace(day=1)
    won = make_deal(owner=owner, name="W", amount="2000.00", at=start)
    move_deal(actor=owner, deal=won, stage=stages["Proposal"], at=start + dt.timedelta(days=2))
    move_deal(
        actor=owner, deal=won, stage=stages["Won"], at=timezone.now() - dt.timedelta(minutes=5)
    )
    make_deal(
        owner=owner,
        name="Open",
        amount="1000.00",
        stage=stages["Proposal"],
        expected_close_date=this_month + dt.timedelta(days=3),
    )
    client = api_client_for(owner)
    rows = client.get(f"/api/v1/pipelines/{pipeline.pk}/forecast?months=1").json()
    assert rows == [
        {
            "month": this_month.strftime("%Y-%m"),
            "currency": "EUR",
            "won": "2000.00",
            "weighted_open": "500.00",
            "forecast": "2500.00",
            "open_total": "1000.00",
            "lost": "0.00",
            "open_deals": 1,
            "won_deals": 1,
            "lost_deals": 0,
        }
    ]
    report = client.get(f"/api/v1/pipelines/{pipeline.pk}/analytics").json()
    assert (report["won"], report["lost"], report["open_count"]) == (1, 0, 1)
    qualification = report["conversion"][0]
    assert (qualification["reached"], qualification["advanced"], qualification["decided"]) == (
        2,
        2,
        2,
    )
    assert report["time_in_stage"][0]["median_days"] == pytest.approx(2.0)
    assert report["win_rate_by_source"] == [
        {
            "key": "manual",
            "label": "Entered by hand",
            "won": 1,
            "lost": 0,
            "rate": 1.0,
            "won_value": "2000.00",
        }
    ]
    bad = client.get(f"/api/v1/pipelines/{pipeline.pk}/forecast?months=99")
    assert bad.status_code == 422


# -- leads -------------------------------------------------------------------------------------


def test_leads_sorted_by_score_with_their_explanation(
    api_client_for, admin_user, owner, django_assert_max_num_queries
):
    from rapport.sales.scoring.services import score_leads
    from rapport.sales.services.leads import create_lead

    create_scoring_rule(
        actor=admin_user,
        name="Executive",
        condition={"field": "seniority", "op": "eq", "value": "executive"},
        points=30,
    )
    create_scoring_rule(
        actor=admin_user,
        name="Trade show",
        condition={"field": "source", "op": "eq", "value": "trade_show"},
        points=15,
    )
    low = create_lead(actor=owner, owner=owner, first_name="Low", job_title="Intern")
    high = create_lead(
        actor=owner, owner=owner, first_name="High", job_title="CEO", source="trade_show"
    )
    mid = create_lead(actor=owner, owner=owner, first_name="Mid", job_title="VP Sales")
    create_lead(actor=owner, owner=owner, first_name="Unscored")
    score_leads(contact_ids=[low.pk, high.pk, mid.pk])
    client = api_client_for(owner)
    with django_assert_max_num_queries(8):
        listed = client.get("/api/v1/leads/?mine=true").json()
    assert [(lead["name"].split()[0], lead["score"]) for lead in listed["items"]] == [
        ("High", 45),
        ("Mid", 30),
        ("Low", 0),
        ("Unscored", None),
    ]
    assert [
        x["name"].split()[0] for x in client.get("/api/v1/leads/?min_score=1").json()["items"]
    ] == ["High", "Mid"]
    detail = client.get(f"/api/v1/leads/{high.pk}/score").json()
    assert detail["current"]["basis"] == "rules"
    assert {hit["name"]: hit["decayed"] for hit in detail["current"]["rules"]} == {
        "Executive": 30.0,
        "Trade show": 15.0,
    }
    assert detail["history"][0]["score"] == 45
    page = client.get("/api/v1/leads/?limit=2").json()
    rest = client.get(f"/api/v1/leads/?limit=2&cursor={page['next_cursor']}").json()
    assert len(page["items"]) + len(rest["items"]) == 4
    assert client.get("/api/v1/leads/?cursor=garbage").status_code == 400


def test_create_a_lead_by_api_and_convert_it(api_client_for, owner, pipeline):
    client = api_client_for(owner)
    created = as_json(
        client,
        "post",
        "/api/v1/leads/",
        {
            "first_name": "Api",
            "last_name": "Lead",
            "emails": ["api@example.com"],
            "products_of_interest": ["Gold plan"],
            "source_detail": "partner portal",
            "owner_id": owner.pk,
        },
    )
    assert created.status_code == 201
    lead = created.json()
    assert (lead["source"], lead["lifecycle_stage"]) == ("api", "lead")
    assert lead["products_of_interest"] == ["Gold plan"]
    bad = as_json(
        client, "post", "/api/v1/leads/", {"emails": ["nope"], "lifecycle_stage": "customer"}
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"body.emails[0].email", "body.lifecycle_stage"} <= fields
    converted = as_json(
        client,
        "post",
        f"/api/v1/leads/{lead['id']}/convert",
        {"amount": "900", "expected_close_date": "2030-06-30"},
    )
    assert converted.status_code == 201
    deal = converted.json()
    assert deal["name"] == "Api Lead" and deal["products"] == ["Gold plan"]
    assert deal["source"] == "api" and deal["contact_id"] == lead["id"]
    assert client.get(f"/api/v1/leads/{lead['id']}").status_code == 404  # now an opportunity
    again = as_json(
        client, "post", f"/api/v1/leads/{lead['id']}/convert", {"expected_close_date": "2030-06-30"}
    )
    assert again.status_code == 404


def test_leads_outside_scope_are_404(api_client_for, lead, outsider):
    client = api_client_for(outsider)
    assert client.get(f"/api/v1/leads/{lead.pk}").status_code == 404
    assert as_json(client, "post", f"/api/v1/leads/{lead.pk}/assign", {}).status_code == 404


# -- tasks and notifications -------------------------------------------------------------------


def test_tasks_api_hand_off_and_complete(api_client_for, owner, outsider, lead):
    service = api_client_for(outsider)
    due = (timezone.now() + dt.timedelta(hours=3)).isoformat()
    created = as_json(
        service,
        "post",
        "/api/v1/tasks/",
        {"title": "Upgrade interest", "due_at": due, "assignee_id": owner.pk},
    )
    assert created.status_code == 201
    task_id = created.json()["id"]
    # the outsider cannot link a contact they cannot see
    hidden = as_json(
        service,
        "post",
        "/api/v1/tasks/",
        {"title": "x", "due_at": due, "assignee_id": owner.pk, "contact_id": lead.pk},
    )
    assert hidden.status_code == 422
    rep = api_client_for(owner)
    assert [t["title"] for t in rep.get("/api/v1/tasks/").json()["items"]] == ["Upgrade interest"]
    assert rep.post(f"/api/v1/tasks/{task_id}/complete").json()["status"] == "done"
    assert rep.get("/api/v1/notifications/?unread=true").json()[0]["kind"] == "task_assigned"
    naive = as_json(rep, "post", "/api/v1/tasks/", {"title": "x", "due_at": "not a date"})
    assert naive.status_code == 422
    assert Task.objects.count() == 1


def test_other_teams_do_not_see_a_reps_own_tasks(api_client_for, owner, outsider):
    task = work.create_task(actor=owner, title="Mine", due_at=timezone.now())
    client = api_client_for(outsider)
    assert client.get(f"/api/v1/tasks/{task.pk}").status_code == 404
    assert client.post(f"/api/v1/tasks/{task.pk}/complete").status_code == 404


def test_assignment_rules_api(api_client_for, admin_user, sales_team):
    client = api_client_for(admin_user)
    created = as_json(
        client,
        "post",
        "/api/v1/assignment-rules/",
        {
            "name": "North",
            "condition": {"field": "postcode", "op": "startswith", "value": "1"},
            "target_team_id": sales_team.pk,
        },
    )
    assert created.status_code == 201
    assert created.json()["description"] == 'postcode starts with "1"'
    bad = as_json(
        client,
        "post",
        "/api/v1/assignment-rules/",
        {
            "name": "x",
            "condition": {"field": "postcode", "op": "sounds_like", "value": 1},
            "target_team_id": sales_team.pk,
        },
    )
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        {
            "field": "body.condition",
            "message": "The condition, operator: unknown operator 'sounds_like'",
        }
    ]
    rerun = as_json(client, "post", "/api/v1/assignment-rules/rerun", {"scope": "unassigned"})
    assert rerun.status_code == 202


def test_model_state_says_rules_carry_the_score_without_history(api_client_for, admin_user):
    client = api_client_for(admin_user)
    assert client.post("/api/v1/scoring/model/retrain").status_code == 202
    state = client.get("/api/v1/scoring/model").json()
    assert state["active"] is None and state["scores_by"] == "rules"
    assert state["latest"]["status"] == "insufficient"
    assert "rules carry the score" in state["latest"]["message"]


def test_stage_change_history_is_kept_per_move(api_client_for, owner, deal, stages):
    client = api_client_for(owner)
    for name in ("Needs analysis", "Proposal"):
        as_json(client, "post", f"/api/v1/deals/{deal.pk}/move", {"stage_id": stages[name].pk})
    assert DealStageChange.objects.filter(deal=deal).count() == 3
