"""Scores stored with history; rules with decay; the learned model trained from the database."""

import datetime as dt

import pytest
from django.utils import timezone

from rapport.interactions.services import log_interaction
from rapport.sales.models import LeadScore, LeadScoreHistory, LeadScoringModel
from rapport.sales.scoring.facts import load_training_history
from rapport.sales.scoring.services import (
    active_model,
    create_scoring_rule,
    score_lead,
    score_leads,
    train_lead_model,
    update_scoring_rule,
)
from rapport.sales.services.settings import update_sales_settings
from rapport.sales.tests.history import make_lead_history

pytestmark = pytest.mark.django_db


@pytest.fixture
def rules(admin_user):
    return [
        create_scoring_rule(
            actor=admin_user,
            name="Senior title",
            condition={"field": "seniority", "op": "eq", "value": "executive"},
            points=10,
        ),
        create_scoring_rule(
            actor=admin_user,
            name="Sent a form",
            condition={"field": "form_submissions", "op": "gte", "value": 1},
            points=20,
            half_life_days=7,
            decay_anchor="last_form_submission",
        ),
        create_scoring_rule(
            actor=admin_user,
            name="Germany",
            condition={"field": "country", "op": "eq", "value": "de"},
            points=-5,
        ),
    ]


def test_rule_points_decay_from_their_anchor(lead, owner, rules):
    log_interaction(
        actor=None,
        kind="form_submission",
        direction="inbound",
        contact=lead,
        occurred_at=timezone.now() - dt.timedelta(days=14),
    )
    score = score_lead(contact=lead)
    # 10 (executive) + 20 × 0.5^(14/7) (form two half-lives ago) − 5 (Germany) = 10
    assert score.rule_points == 10.0
    assert (score.score, score.basis) == (10, "rules")
    hits = {hit["name"]: hit["decayed"] for hit in score.reasons["rules"]}
    assert hits == {"Senior title": 10.0, "Sent a form": 5.0, "Germany": -5.0}
    assert score.model_probability is None


def test_history_is_kept_only_when_the_score_changes(lead, admin_user, rules):
    score_lead(contact=lead)
    score_lead(contact=lead)
    assert LeadScoreHistory.objects.filter(contact=lead).count() == 1
    update_scoring_rule(actor=admin_user, rule=rules[0], points=30)
    score_lead(contact=lead)
    assert list(LeadScoreHistory.objects.filter(contact=lead).values_list("score", flat=True)) == [
        25,
        5,
    ]


def test_rule_condition_errors_name_the_json_path(admin_user):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        create_scoring_rule(
            actor=admin_user,
            name="Bad",
            condition={"all": [{"field": "shoe_size", "op": "eq", "value": 9}]},
            points=5,
        )
    assert caught.value.message_dict["condition"] == [
        "Condition 1, field: unknown field 'shoe_size'"
    ]
    with pytest.raises(ValidationError) as caught:
        create_scoring_rule(actor=admin_user, name="Bad", condition={}, points=5, half_life_days=7)
    assert "decay_anchor" in caught.value.message_dict


def test_with_too_little_history_the_model_says_so_and_rules_carry_the_score(lead, rules):
    make_lead_history(50)
    run = train_lead_model(trigger="user")
    assert run.status == "insufficient"
    assert run.message.startswith("Only 50 leads have a known outcome; at least 200 are needed.")
    assert not run.is_active
    assert active_model() is None
    assert score_lead(contact=lead).basis == "rules"


def test_training_uses_only_what_was_known_before_the_outcome(db):
    ids = make_lead_history(60, seed=3)
    leads, labels = load_training_history(window_days=90)
    assert [lead.contact_id for lead in leads] == sorted(ids)
    for lead, label in zip(leads, labels, strict=True):
        # the three meetings after each conversion are never counted
        assert lead.meetings == 0
        assert lead.as_of <= lead.lead_since + dt.timedelta(days=90)
        assert label in (0, 1)


def test_a_trained_model_scores_leads_with_reasons_that_add_up(lead, admin_user, rules):
    make_lead_history(600, seed=5)
    update_sales_settings(actor=admin_user, min_labelled_leads=200, min_per_class=20)
    run = train_lead_model(actor=admin_user, trigger="user", seed=0)
    assert run.status == "ready" and run.is_active
    assert run.n_labelled == 600 and run.n_train + run.n_test == 600
    assert run.roc_auc > 0.7
    assert sum(row["count"] for row in run.calibration) == run.n_test
    assert LeadScoringModel.objects.filter(is_active=True).count() == 1

    score = score_lead(contact=lead)
    assert score.basis == "model"
    assert score.model_id == run.pk
    assert score.score == round(score.model_probability * 100)
    assert score.rule_points == 5.0  # both layers are kept: 10 (title) − 5 (Germany)
    reasons = score.reasons
    total = sum(r["contribution"] for r in reasons["model"]) + reasons["model_other"]
    assert total + reasons["model_intercept"] == pytest.approx(reasons["model_logit"], abs=1e-5)
    labels = [r["label"] for r in reasons["model"]]
    assert "Senior job title" in labels
    # Each reason speaks of this lead: the fixture lead has a title and an email.
    assert not any(label in ("No job title", "No email address") for label in labels)


def test_score_all_leads_in_batches(admin_user, rules):
    ids = make_lead_history(30, seed=9)
    run = score_leads(batch_size=7)
    assert run.scored == 30 and run.changed == 30
    assert LeadScore.objects.filter(contact_id__in=ids).count() == 30
    again = score_leads(batch_size=7)
    assert again.changed == 0


class ScoreWrites:
    """The statements that write LeadScore rows, and whether each was an executemany."""

    def __init__(self):
        self.calls = []

    def __call__(self, execute, sql, params, many, context):
        if "INTO sales_leadscore " in sql:
            self.calls.append(many)
        return execute(sql, params, many, context)


def test_scores_are_written_with_one_statement_per_batch(admin_user, rules):
    from django.db import connection

    ids = make_lead_history(25, seed=11)
    writes = ScoreWrites()
    with connection.execute_wrapper(writes):
        score_leads(contact_ids=ids, batch_size=10)
    # 25 leads in batches of 10: three statements, not one per lead. PostgreSQL gets a single
    # set-based statement per batch; SQLite, in the process, steps one prepared statement.
    assert len(writes.calls) == 3
    assert writes.calls == [connection.vendor == "sqlite"] * 3
    stored = {row.contact_id: row for row in LeadScore.objects.filter(contact_id__in=ids)}
    assert sorted(stored) == sorted(ids)
    assert all(row.basis == "rules" and row.model_id is None for row in stored.values())

    # The same statement overwrites: a changed rule moves every matching stored score.
    def senior(row):
        return any(hit["name"] == "Senior title" for hit in row.reasons["rules"])

    executives = {i for i, row in stored.items() if senior(row)}
    assert executives
    update_scoring_rule(actor=admin_user, rule=rules[0], points=40)
    writes = ScoreWrites()
    with connection.execute_wrapper(writes):
        run = score_leads(contact_ids=ids, batch_size=10)
    assert len(writes.calls) == 3
    assert run.changed == len(executives)
    for row in LeadScore.objects.filter(contact_id__in=ids):
        before = stored[row.contact_id]
        raised = 30 if row.contact_id in executives else 0
        assert row.rule_points == pytest.approx(before.rule_points + raised)
        assert row.computed_at > before.computed_at


def test_the_model_page_shows_how_the_current_leads_score(web_client_for, admin_user):
    from rapport.sales.scoring.services import score_spread

    make_lead_history(400, seed=8)
    update_sales_settings(actor=admin_user, min_labelled_leads=200, min_per_class=20)
    run = train_lead_model(actor=admin_user, trigger="user", seed=0)
    assert run.status == "ready" and run.parameters["left_out"] == []
    score_leads()
    scores = list(LeadScore.objects.filter(basis="model").values_list("score", flat=True))
    assert len(scores) == 400

    spread = score_spread(actor=admin_user)
    assert spread["total"] == 400
    assert [row["count"] for row in spread["bins"]] == [
        sum(1 for s in scores if row["lower"] <= s <= row["upper"]) for row in spread["bins"]
    ]
    ordered = sorted(scores)
    assert spread["deciles"][4] == ordered[199]  # nearest rank: the 200th of 400
    # The history's leads differ, and the model says so: not one wall of scores.
    assert spread["deciles"][8] - spread["deciles"][0] >= 20, spread["deciles"]

    html = web_client_for(admin_user).get("/sales/scoring/model/").content.decode()
    section = html.split("data-score-spread", 1)[1].split("</section>", 1)[0]
    assert "How the current leads score" in section
    assert f"half {spread['deciles'][4]} or less" in section
    assert section.count("<tr><td>") == 10
    assert "data-left-out" not in html

    # A feature left out of training is named in words on the page.
    run.parameters = {**run.parameters, "left_out": ["has_phone", "source=web_form"]}
    run.save(update_fields=["parameters"])
    html = web_client_for(admin_user).get("/sales/scoring/model/").content.decode()
    left_out = html.split("data-left-out>", 1)[1].split("</p>", 1)[0]
    assert "Has a phone number, Source: Web form." in left_out


def test_only_administrators_see_the_spread(owner):
    from django.core.exceptions import PermissionDenied

    from rapport.sales.scoring.services import score_spread

    with pytest.raises(PermissionDenied):
        score_spread(actor=owner)
