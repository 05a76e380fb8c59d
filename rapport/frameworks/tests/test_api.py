"""The CRM-models API: who may read and write what, bad input answered field by field, and the
figures it returns."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from rapport.core.tests import api_matrix
from rapport.core.tests.api_matrix import (
    Call,
    admin_write,
    assert_answer,
    collection_read,
    collection_write,
)
from rapport.frameworks import services, snapshots
from rapport.frameworks.models import Assessment, Objective
from rapport.frameworks.tests.conftest import customer

pytestmark = pytest.mark.django_db
client_as, people, read_only_user = (
    api_matrix.client_as,
    api_matrix.people,
    api_matrix.read_only_user,
)

DEADLINE = (timezone.localdate() + dt.timedelta(days=200)).isoformat()
OBJECTIVE = {
    "model": "payne_frow",
    "stage": "value_creation",
    "kpi": "repeat_purchase_rate",
    "target_kind": "change",
    "target_input": 10,
    "deadline": DEADLINE,
}
GUIDE = {
    "team_size": "1-10",
    "product_complexity": "complex",
    "channels": ["email"],
    "departments": ["sales"],
    "goals": ["personalize"],
}


@pytest.fixture
def shop(owner):
    customer(name="Ann", orders=[(10, 100), (40, 80)], owner=owner)
    customer(name="Ben", orders=[(20, 50)], owner=owner)
    snapshots.take_snapshot()


READS = [
    "/api/v1/kpis/",
    "/api/v1/kpis/win_rate",
    "/api/v1/kpis/repeat_purchase_rate/history",
    "/api/v1/frameworks/",
    "/api/v1/frameworks/idic",
    "/api/v1/frameworks/value_chain/scorecard",
    "/api/v1/frameworks/objectives/",
    "/api/v1/frameworks/gartner/assessments",
]


@pytest.mark.parametrize("url", READS)
def test_reads_need_a_signed_in_user(shop, client_as, url):
    for actor, expected in collection_read().items():
        assert_answer(client_as, actor, Call("GET", url), expected)


def test_recommendation_is_open_to_every_user_and_writes_nothing(shop, client_as):
    for actor, expected in collection_read().items():
        assert_answer(
            client_as, actor, Call("POST", "/api/v1/frameworks/recommendation", GUIDE), expected
        )


def test_setting_goals_is_for_administrators_and_managers(shop, client_as):
    calls = [
        (Call("POST", "/api/v1/frameworks/objectives/", OBJECTIVE), admin_write(201)),
        (
            Call(
                "PUT",
                "/api/v1/frameworks/idic/stages/identify/targets/duplicate_rate",
                {"target": 1},
            ),
            admin_write(200),
        ),
        (Call("PUT", "/api/v1/frameworks/choice", {"model": "idic"}), admin_write(200)),
        (Call("POST", "/api/v1/frameworks/gartner/assessments", {"title": "Q1"}), admin_write(201)),
    ]
    for call, answers in calls:
        for actor, expected in answers.items():
            assert_answer(client_as, actor, call, expected)


def test_answering_is_for_everyone_who_may_write(shop, client_as, admin_user):
    assessment = services.create_assessment(actor=admin_user, model_key="gartner")
    call = Call(
        "POST",
        f"/api/v1/frameworks/assessments/{assessment.pk}/responses",
        {"answers": {"vision.vision_written": 3}},
    )
    for actor, expected in collection_write(200).items():
        assert_answer(client_as, actor, call, expected)
    assert assessment.responses.values("respondent").distinct().count() == 4


def test_a_manager_role_may_set_objectives(shop, manager, api_client_for):
    response = api_client_for(manager).post(
        "/api/v1/frameworks/objectives/", json.dumps(OBJECTIVE), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["baseline"], body["target"], body["owner_id"]) == (50.0, 60.0, manager.pk)


def _post(client, url, body, method="post"):
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"target_input": -20}, "target_input"),
        ({"deadline": "2001-01-01"}, "deadline"),
        ({"deadline": "tomorrow"}, "body.deadline"),
        ({"kpi": "nps"}, "kpi"),
        ({"stage": "vision"}, "stage"),
        ({"owner_id": 999999}, "owner_id"),
        ({"segment_id": 999999}, "segment_id"),
        ({"colour": "red"}, "body.colour"),
    ],
)
def test_bad_objectives_get_422_naming_the_field(shop, admin_user, api_client_for, changes, field):
    response = _post(
        api_client_for(admin_user), "/api/v1/frameworks/objectives/", {**OBJECTIVE, **changes}
    )
    assert response.status_code == 422, response.content
    assert f"body.{field}".replace("body.body.", "body.") in {
        error["field"] for error in response.json()["errors"]
    }
    assert not Objective.objects.exists()


def test_bad_answers_get_422(admin_user, api_client_for):
    assessment = services.create_assessment(actor=admin_user, model_key="gartner")
    url = f"/api/v1/frameworks/assessments/{assessment.pk}/responses"
    response = _post(api_client_for(admin_user), url, {"answers": {"vision.vision_written": 9}})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.answers.vision.vision_written"


def test_bad_queries_and_unknown_names(shop, admin_user, api_client_for):
    client = api_client_for(admin_user)
    assert client.get("/api/v1/kpis/no_such_kpi").status_code == 404
    assert client.get("/api/v1/frameworks/no_such_model/scorecard").status_code == 404
    response = client.get("/api/v1/kpis/win_rate/history?population=everyone")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.population"
    response = client.get("/api/v1/kpis/linked_interaction_share/history?population=significant")
    assert response.status_code == 422
    response = _post(
        client, "/api/v1/frameworks/recommendation", {**GUIDE, "goals": ["world_peace"]}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.goals[0]"
    response = _post(
        client,
        "/api/v1/frameworks/idic/stages/identify/targets/duplicate_rate",
        {"target": 200},
        method="put",
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.target"


def test_kpi_catalogue_values_and_reasons(shop, owner, api_client_for):
    body = {kpi["key"]: kpi for kpi in api_client_for(owner).get("/api/v1/kpis/").json()}
    assert len(body) == 40
    repeat = body["repeat_purchase_rate"]
    assert (repeat["value"], repeat["numerator"], repeat["denominator"]) == (50.0, 1, 2)
    assert repeat["measured_on"] == timezone.localdate().isoformat()
    assert repeat["records_url"] == "/models/kpis/repeat_purchase_rate/records/"
    nps = body["nps"]
    assert (nps["measurable"], nps["value"]) == (False, None)
    assert "surveys" in nps["reason"] and nps["capability"]
    win = body["win_rate"]
    assert win["value"] is None and "No deal" in win["reason"]
    assert {"model": "qci", "stage": "customer_management"} in win["used_by"]


def test_history_and_scorecard(shop, owner, api_client_for):
    client = api_client_for(owner)
    history = client.get("/api/v1/kpis/repeat_purchase_rate/history").json()
    assert [point["value"] for point in history["points"]] == [50.0]
    card = client.get("/api/v1/frameworks/payne_frow/scorecard").json()
    stage = next(s for s in card["stages"] if s["key"] == "value_creation")
    repeat = next(k for k in stage["kpis"] if k["kpi"] == "repeat_purchase_rate")
    assert (repeat["value"], repeat["target"], repeat["status"]) == (50.0, 40, "on_track")


def test_recommendation_answer(shop, owner, api_client_for):
    body = _post(api_client_for(owner), "/api/v1/frameworks/recommendation", GUIDE).json()
    assert body["recommended"] == "idic"
    assert body["runner_up"] != "idic"
    assert body["reasons"]["idic"]
    assert body["facts"]["customers"] == 2


def test_objective_update_and_archive(shop, admin_user, api_client_for):
    client = api_client_for(admin_user)
    made = _post(client, "/api/v1/frameworks/objectives/", OBJECTIVE).json()
    url = f"/api/v1/frameworks/objectives/{made['id']}"
    response = _post(client, url, {"target_kind": "absolute", "target_input": 80}, method="patch")
    assert response.status_code == 200 and response.json()["target"] == 80
    response = _post(client, url, {"deadline": None}, method="patch")
    assert response.status_code == 422
    assert client.delete(url).status_code == 204
    assert client.get(url).json()["status"] == "archived"


def test_assessment_flow(admin_user, owner, api_client_for):
    admin = api_client_for(admin_user)
    made = _post(admin, "/api/v1/frameworks/value_chain/assessments", {}).json()
    base = f"/api/v1/frameworks/assessments/{made['id']}"
    _post(
        api_client_for(owner), f"{base}/responses", {"answers": {"leadership_culture.sponsor": 2}}
    )
    body = _post(
        admin,
        f"{base}/responses",
        {"answers": {"leadership_culture.sponsor": 4, "human_resources.roles": 1}},
    ).json()
    assert body["my_answers"] == {"leadership_culture.sponsor": 4, "human_resources.roles": 1}
    done = admin.post(f"{base}/complete").json()
    assert done["status"] == "completed" and done["respondents"] == 2
    assert [gap["question"] for gap in done["gaps"]] == ["roles", "sponsor"]
    assert admin.post(f"{base}/complete").status_code == 422
    assert Assessment.objects.get().status == "completed"


def test_read_endpoints_keep_a_query_budget(
    shop, owner, api_client_for, django_assert_max_num_queries
):
    client = api_client_for(owner)
    client.get("/api/v1/kpis/")  # the token's first use writes last_used_at
    for url, budget in (
        ("/api/v1/kpis/", 8),
        ("/api/v1/frameworks/", 8),
        ("/api/v1/frameworks/qci/scorecard", 14),
        ("/api/v1/frameworks/objectives/", 6),
    ):
        with django_assert_max_num_queries(budget):
            assert client.get(url).status_code == 200


def test_an_owner_the_rule_refuses_is_a_422_on_owner_id(
    shop, admin_user, api_client_for, read_only_user
):
    client = api_client_for(admin_user)
    response = _post(
        client, "/api/v1/frameworks/objectives/", {**OBJECTIVE, "owner_id": read_only_user.pk}
    )
    assert response.status_code == 422, response.content
    assert [error["field"] for error in response.json()["errors"]] == ["body.owner_id"]
    assert not Objective.objects.exists()

    made = _post(client, "/api/v1/frameworks/objectives/", OBJECTIVE).json()
    patched = _post(
        client,
        f"/api/v1/frameworks/objectives/{made['id']}",
        {"owner_id": read_only_user.pk},
        method="patch",
    )
    assert patched.status_code == 422, patched.content
    assert [error["field"] for error in patched.json()["errors"]] == ["body.owner_id"]
    assert Objective.objects.get().owner_id == admin_user.pk
