"""The sales pages: board, moves, analytics, deals, leads, configuration, panels."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from rapport.contacts.tests.factories import make_contact
from rapport.sales.models import Deal, ScoringRule, WebForm
from rapport.sales.services.deals import move_deal
from rapport.sales.services.webforms import create_webform

pytestmark = pytest.mark.django_db


def test_board_shows_columns_counts_and_cards_with_a_bounded_query_count(
    web_client_for, owner, make_deal, stages, pipeline, django_assert_max_num_queries
):
    for i in range(60):
        make_deal(owner=owner, name=f"Deal {i:02}", amount="10.00")
    make_deal(owner=owner, name="Late stage", stage=stages["Negotiation"], amount="2500.00")
    client = web_client_for(owner)
    with django_assert_max_num_queries(20):
        response = client.get(f"/sales/pipelines/{pipeline.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="deal-card"') == 21  # a screenful per column, then "show more"
    assert "Show more" in html
    columns = {c.stage.name: c for c in response.context["columns"]}
    assert columns["Qualification"].count == 60
    assert columns["Negotiation"].totals == [("EUR", pytest.approx(2500))]
    assert "data-count>60</span>" in html and "€600.00" in html
    assert "<script>" not in html  # behaviour comes from static files only (CSP)
    more = client.get(
        f"/sales/pipelines/{pipeline.pk}/column/{stages['Qualification'].pk}/"
        f"?cursor={columns['Qualification'].next_cursor}",
        HTTP_HX_REQUEST="true",
    )
    more_html = more.content.decode()
    assert more_html.count('class="deal-card"') == 40  # the rest, up to 50 at a time
    assert "Show more" not in more_html
    assert f'href="/sales/deals/{Deal.objects.get(name="Deal 59").pk}/"' in more_html


def test_board_filters(web_client_for, owner, teammate, make_deal, pipeline):
    make_deal(owner=owner, name="Mine in March", expected_close_date=dt.date(2030, 3, 9))
    make_deal(owner=teammate, name="Theirs in March", expected_close_date=dt.date(2030, 3, 10))
    make_deal(owner=owner, name="Mine in April", expected_close_date=dt.date(2030, 4, 1))
    client = web_client_for(owner)
    html = client.get(
        f"/sales/pipelines/{pipeline.pk}/?owner_id={owner.pk}&close_month=2030-03"
    ).content.decode()
    assert "Mine in March" in html
    assert "Theirs in March" not in html and "Mine in April" not in html
    bad = client.get(f"/sales/pipelines/{pipeline.pk}/?close_month=March")
    assert bad.status_code == 200 and "Give a month as YYYY-MM." in bad.content.decode()


def test_move_answers_json_for_the_board_and_undo_puts_it_back(
    web_client_for, owner, make_deal, stages
):
    deal = make_deal(owner=owner, amount="300.00")
    client = web_client_for(owner)
    response = client.post(
        f"/sales/deals/{deal.pk}/move/",
        {"stage": stages["Proposal"].pk},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["ok"] and answer["message"] == "Moved “Big deal” to Proposal."
    assert {c["stage_id"]: (c["count"], c["total"]) for c in answer["columns"]} == {
        stages["Qualification"].pk: (0, "—"),
        stages["Proposal"].pk: (1, "€300.00"),
    }
    undone = client.post(answer["undo_url"], {"change_id": answer["change_id"]})
    assert undone.status_code == 200 and undone.json()["stage_id"] == stages["Qualification"].pk
    deal.refresh_from_db()
    assert deal.stage == stages["Qualification"]


def test_moving_to_lost_without_a_reason_shows_the_form(
    web_client_for, owner, make_deal, stages, lost_reason
):
    deal = make_deal(owner=owner)
    client = web_client_for(owner)
    as_json = client.post(
        f"/sales/deals/{deal.pk}/move/",
        {"stage": stages["Lost"].pk},
        HTTP_ACCEPT="application/json",
    )
    assert as_json.status_code == 422
    assert as_json.json()["message"] == "Choose why the deal was lost."
    as_page = client.post(f"/sales/deals/{deal.pk}/move/", {"stage": stages["Lost"].pk})
    assert as_page.status_code == 422
    assert "Choose why the deal was lost." in as_page.content.decode()
    done = client.post(
        f"/sales/deals/{deal.pk}/move/",
        {"stage": stages["Lost"].pk, "lost_reason": lost_reason.pk, "next": "/sales/pipeline/"},
    )
    assert done.status_code == 302 and done["Location"] == "/sales/pipeline/"
    assert Deal.objects.get(pk=deal.pk).status == "lost"


def test_moves_are_refused_outside_scope_and_for_read_only(
    web_client_for, owner, outsider, read_only_user, make_deal, stages
):
    deal = make_deal(owner=owner)
    assert (
        web_client_for(outsider)
        .post(f"/sales/deals/{deal.pk}/move/", {"stage": stages["Proposal"].pk})
        .status_code
        == 404
    )
    assert (
        web_client_for(read_only_user)
        .post(f"/sales/deals/{deal.pk}/move/", {"stage": stages["Proposal"].pk})
        .status_code
        == 403
    )
    deal.refresh_from_db()
    assert deal.stage == stages["Qualification"]
    html = (
        web_client_for(read_only_user).get(f"/sales/pipelines/{deal.pipeline_id}/").content.decode()
    )
    assert 'draggable="false"' in html and "deal-card__move" not in html


def test_analytics_page_has_chart_data_and_tables(
    web_client_for, owner, make_deal, stages, pipeline
):
    start = timezone.now() - dt.timedelta(days=10)
    deal = make_deal(owner=owner, at=start, amount="100.00")
    move_deal(actor=owner, deal=deal, stage=stages["Won"], at=start + dt.timedelta(days=4))
    response = web_client_for(owner).get(f"/sales/pipelines/{pipeline.pk}/analytics/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="pipeline-analytics-data" type="application/json"' in html
    assert "chart.umd.min.js" in html and "sales/analytics.js" in html
    data = response.context["chart_data"]
    assert data["conversion"]["rates"] == [100.0, 100.0, 100.0, 100.0]
    assert data["time"]["median_days"][0] == 4.0
    assert data["win_source"] == {"labels": ["Entered by hand"], "rates": [100.0]}


def test_deal_page_shows_history_timeline_tasks_and_the_contact(
    web_client_for, owner, make_deal, stages, lead
):
    from rapport.interactions.services import log_interaction
    from rapport.sales.services.work import create_task

    deal = make_deal(owner=owner, contact=lead, name="Lena's rollout")
    move_deal(actor=owner, deal=deal, stage=stages["Proposal"])
    log_interaction(
        actor=owner, kind="call", contact=lead, subject="Discussed pricing", outcome="connected"
    )
    create_task(actor=owner, title="Send the contract", due_at=timezone.now(), deal=deal)
    html = web_client_for(owner).get(f"/sales/deals/{deal.pk}/").content.decode()
    for text in (
        "Lena&#x27;s rollout",
        "Qualification → <strong>Proposal</strong>",
        "Discussed pricing",
        "Send the contract",
        "lena@acme.example",
        "Head of Operations",
    ):
        assert text in html, text


def test_deal_form_shows_errors_beside_fields(web_client_for, owner, pipeline):
    client = web_client_for(owner)
    response = client.post(
        "/sales/deals/new/",
        {
            "name": "",
            "pipeline": pipeline.pk,
            "amount": "-1",
            "expected_close_date": "2030-01-01",
            "source": "manual",
            "contact": "nobody@nowhere.example",
        },
    )
    assert response.status_code == 422
    form = response.context["form"]
    assert "name" in form.errors and "contact" in form.errors
    good = client.post(
        "/sales/deals/new/",
        {
            "name": "<b>Bold</b> deal",
            "pipeline": pipeline.pk,
            "amount": "10",
            "expected_close_date": "2030-01-01",
            "source": "referral",
            "products": "A, B",
        },
    )
    deal = Deal.objects.get()
    assert good.status_code == 302 and good["Location"] == f"/sales/deals/{deal.pk}/"
    assert deal.products == ["A", "B"] and deal.source == "referral"
    page = client.get(good["Location"]).content.decode()
    assert "&lt;b&gt;Bold&lt;/b&gt; deal" in page and "<b>Bold</b>" not in page


def test_my_leads_sorted_by_score_by_default(web_client_for, admin_user, owner):
    from rapport.sales.scoring.services import create_scoring_rule, score_leads
    from rapport.sales.services.leads import create_lead

    create_scoring_rule(
        actor=admin_user,
        name="Exec",
        condition={"field": "seniority", "op": "eq", "value": "executive"},
        points=50,
    )
    low = create_lead(actor=owner, owner=owner, first_name="Lowe", job_title="Clerk")
    high = create_lead(actor=owner, owner=owner, first_name="Highe", job_title="Founder")
    create_lead(actor=admin_user, first_name="Unowned")
    score_leads(contact_ids=[low.pk, high.pk])
    html = web_client_for(owner).get("/sales/leads/").content.decode()
    # Within the list: the header names the signed-in user, whose made-up name may contain
    # "Lowe" too.
    rows = html[html.index("<tbody") :]
    assert rows.index("Highe") < rows.index("Lowe")
    assert "Unowned" not in html
    assert (
        "Unowned"
        in web_client_for(admin_user).get("/sales/leads/?view=unassigned").content.decode()
    )


def test_lead_page_shows_both_layers_and_the_assignment(web_client_for, owner, lead, admin_user):
    from rapport.sales.assignment import assign_lead_by_hand
    from rapport.sales.scoring.services import create_scoring_rule, score_lead

    create_scoring_rule(
        actor=admin_user,
        name="From Germany",
        condition={"field": "country", "op": "eq", "value": "DE"},
        points=7,
    )
    score_lead(contact=lead)
    assign_lead_by_hand(actor=admin_user, contact=lead, owner=owner, note="met at the fair")
    html = web_client_for(owner).get(f"/sales/leads/{lead.pk}/").content.decode()
    assert "From Germany" in html and "+7.0" in html
    assert "No trained model yet" in html
    assert "met at the fair" in html


def test_convert_a_lead_from_its_page(web_client_for, owner, lead, pipeline):
    response = web_client_for(owner).post(
        f"/sales/leads/{lead.pk}/convert/",
        {"pipeline": pipeline.pk, "amount": "750", "expected_close_date": "2030-02-01"},
    )
    deal = Deal.objects.get()
    assert response["Location"] == f"/sales/deals/{deal.pk}/"
    lead.refresh_from_db()
    assert lead.lifecycle_stage == "opportunity"


def test_manual_lead_entry_goes_through_the_rules(web_client_for, owner):
    response = web_client_for(owner).post(
        "/sales/leads/new/",
        {
            "first_name": "Trade",
            "last_name": "Show",
            "email": "bad",
            "lifecycle_stage": "lead",
            "source": "trade_show",
            "source_detail": "CeBIT",
        },
    )
    assert response.status_code == 422
    assert "Enter a valid email address." in response.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/sales/forms/",
        "/sales/forms/new/",
        "/sales/scoring/",
        "/sales/scoring/model/",
        "/sales/assignment/",
        "/sales/pipelines/",
    ],
)
def test_configuration_pages_are_for_administrators(web_client_for, owner, admin_user, url):
    assert web_client_for(owner).get(url).status_code == 403
    assert web_client_for(admin_user).get(url).status_code == 200


def test_build_a_web_form_in_the_ui_and_get_its_snippet(web_client_for, admin_user):
    client = web_client_for(admin_user)
    response = client.post(
        "/sales/forms/new/",
        {
            "name": "Contact us",
            "source": "web_form",
            "lifecycle_stage": "lead",
            "submit_label": "Send",
            "thank_you_message": "Thanks!",
            "consent_enabled": "on",
            "consent_text": "You may email me.",
            "max_submissions_per_minute": "30",
            "include_email": "on",
            "required_email": "on",
            "include_first_name": "on",
            "label_first_name": "Your name",
            "is_active": "on",
        },
    )
    form = WebForm.objects.get()
    assert response.status_code == 302
    assert form.fields == [
        {"target": "first_name", "label": "Your name", "required": False},
        {"target": "email", "label": "", "required": True},
    ]
    detail = client.get(f"/sales/forms/{form.pk}/").content.decode()
    assert f"/sales/forms/{form.public_id}/submit" in detail
    assert "/sales/forms/embed.js" in detail and "&lt;iframe" in detail


def test_the_rule_editor_reports_json_and_field_errors(web_client_for, admin_user):
    client = web_client_for(admin_user)
    response = client.post(
        "/sales/scoring/",
        {"name": "R", "condition": "{oops", "points": "5", "decay_anchor": "none", "position": "1"},
    )
    assert response.status_code == 422
    assert "Not valid JSON" in response.content.decode()
    response = client.post(
        "/sales/scoring/",
        {
            "name": "R",
            "condition": json.dumps({"field": "x", "op": "eq", "value": 1}),
            "points": "5",
            "decay_anchor": "none",
            "position": "1",
        },
    )
    assert "The condition, field: unknown field &#x27;x&#x27;" in response.content.decode()
    check = client.post(
        "/sales/conditions/check/", {"condition": '{"field": "country", "op": "eq", "value": "DE"}'}
    )
    assert "Matches <strong>0</strong> of 0 current leads" in check.content.decode()
    assert not ScoringRule.objects.exists()


def test_contact_360_has_deals_and_lead_score_panels(web_client_for, owner, lead, make_deal):
    make_deal(owner=owner, contact=lead, name="Panel deal")
    html = web_client_for(owner).get(f"/contacts/{lead.pk}/").content.decode()
    assert "Panel deal" in html
    assert 'id="panel-sales_lead_score"' in html and 'id="panel-sales_tasks"' in html


def test_home_shows_my_day(web_client_for, owner):
    html = web_client_for(owner).get("/").content.decode()
    assert "Overdue tasks" in html


def test_public_form_page_needs_no_login(web_client_for, admin_user):
    form = create_webform(
        actor=admin_user, name="Public", fields=[{"target": "email", "required": True}]
    )
    from django.test import Client

    assert Client().get(f"/sales/forms/{form.public_id}/").status_code == 200
    assert Client().get("/sales/forms/").status_code == 302  # the admin list needs a login


def test_lost_reasons_are_managed_on_the_pipelines_page(web_client_for, admin_user):
    from rapport.sales.models import LostReason

    client = web_client_for(admin_user)
    assert (
        client.post("/sales/pipelines/", {"action": "add_reason", "name": "Price"}).status_code
        == 302
    )
    again = client.post("/sales/pipelines/", {"action": "add_reason", "name": "price"})
    assert again.status_code == 422 and "This reason exists already." in again.content.decode()
    reason = LostReason.objects.get()
    client.post("/sales/pipelines/", {"action": "toggle_reason", "reason_id": reason.pk})
    reason.refresh_from_db()
    assert not reason.is_active
    created = client.post(
        "/sales/pipelines/", {"action": "pipeline", "name": "Partners", "currency": "USD"}
    )
    assert created.status_code == 302 and "/settings/" in created["Location"]


def test_model_page_shows_quality_and_calibration_and_retrains_on_demand(
    web_client_for, admin_user, django_capture_on_commit_callbacks
):
    from rapport.sales.models import LeadScoringModel
    from rapport.sales.scoring.services import train_lead_model
    from rapport.sales.services.settings import update_sales_settings
    from rapport.sales.tests.history import make_lead_history

    client = web_client_for(admin_user)
    html = client.get("/sales/scoring/model/").content.decode()
    assert "No learned model is scoring leads: the rules carry the score." in html
    make_lead_history(400, seed=4)
    update_sales_settings(actor=admin_user, min_labelled_leads=200, min_per_class=20)
    run = train_lead_model(actor=admin_user, trigger="user", seed=0)

    html = client.get("/sales/scoring/model/").content.decode()
    assert f"data-model-auc>{run.roc_auc:.3f}<" in html
    assert f"ROC AUC on {run.n_test} held-out leads" in html
    calibration = html.split("Calibration on held-out leads", 1)[1].split("</table>", 1)[0]
    assert calibration.count("<tr><td>") == len(run.calibration) > 1

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/sales/scoring/model/", {"action": "retrain"})
    assert response.status_code == 302
    newest = LeadScoringModel.objects.order_by("-id").first()
    assert newest.pk != run.pk
    assert (newest.trigger, newest.actor, newest.is_active) == ("user", admin_user, True)
    run.refresh_from_db()
    assert not run.is_active


def test_rerun_assignment_from_the_rules_page(
    web_client_for, admin_user, owner, django_capture_on_commit_callbacks
):
    from rapport.sales.assignment import create_assignment_rule
    from rapport.sales.models import LeadAssignment
    from rapport.sales.services.leads import create_lead

    stray = create_lead(actor=admin_user, first_name="Stray", last_name="Lead", country="DE")
    kept = create_lead(actor=admin_user, owner=admin_user, first_name="Kept", country="DE")
    create_assignment_rule(
        actor=admin_user,
        name="Germany to the owner",
        condition={"field": "country", "op": "eq", "value": "DE"},
        target_user=owner,
    )
    client = web_client_for(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/sales/assignment/", {"action": "rerun_unassigned"})
    assert response.status_code == 302
    stray.refresh_from_db()
    kept.refresh_from_db()
    assert stray.owner == owner
    assert kept.owner == admin_user  # only the unassigned leads were looked at
    assignment = LeadAssignment.objects.get(contact=stray)
    assert (assignment.rule_name, assignment.actor) == ("Germany to the owner", admin_user)
    assert not LeadAssignment.objects.filter(contact=kept).exists()


def test_lead_page_shows_the_score_history(web_client_for, owner, lead, admin_user):
    from rapport.sales.scoring.services import create_scoring_rule, score_lead, update_scoring_rule

    rule = create_scoring_rule(
        actor=admin_user,
        name="From Germany",
        condition={"field": "country", "op": "eq", "value": "DE"},
        points=7,
    )
    score_lead(contact=lead)
    update_scoring_rule(actor=admin_user, rule=rule, points=31)
    score_lead(contact=lead)
    html = web_client_for(owner).get(f"/sales/leads/{lead.pk}/").content.decode()
    history = html.split("Score history", 1)[1].split("</table>", 1)[0]
    assert history.index('<td class="num">31</td>') < history.index('<td class="num">7</td>')


def test_checking_an_assignment_rule_counts_the_leads_its_condition_picks(
    web_client_for, admin_user, lead, owner
):
    # The assignment page holds two forms, so its fields are prefixed: `rule-condition`.
    make_contact(actor=owner, owner=owner, first_name="Paul", country="FR", lifecycle_stage="lead")
    page = web_client_for(admin_user).get("/sales/assignment/").content.decode()
    assert 'name="rule-condition"' in page
    check = web_client_for(admin_user).post(
        "/sales/conditions/check/",
        {
            "rule-name": "Germany",
            "rule-condition": '{"field": "country", "op": "eq", "value": "DE"}',
        },
    )
    assert "Matches <strong>1</strong> of 2 current leads" in check.content.decode()


def test_completing_a_task_in_place_tells_my_day_to_recount(web_client_for, owner):
    from rapport.sales.services.work import create_task

    task = create_task(actor=owner, title="Send the quote", due_at=timezone.now())
    response = web_client_for(owner).post(
        f"/sales/tasks/{task.pk}/complete/", HTTP_HX_REQUEST="true"
    )
    assert response["HX-Trigger"] == "tasks-changed"
    my_day = web_client_for(owner).get("/sales/my-day/").content.decode()
    assert 'id="day-counts"' in my_day and 'hx-trigger="tasks-changed from:body"' in my_day
