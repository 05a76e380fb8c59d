import csv
import io
import json

import pytest
from django.core.cache import cache

from rapport.analytics import book
from rapport.analytics.models import CustomerAnalytics
from rapport.commerce.tests.factories import make_order
from rapport.contacts.tests.factories import make_contact
from rapport.core.tests.pages import page_with_panels

pytestmark = pytest.mark.django_db

PAGES = [
    "/analytics/",
    "/analytics/customers/",
    "/analytics/at-risk/",
    "/analytics/rfm/",
    "/analytics/pareto/",
    "/analytics/clv/",
    "/analytics/cohorts/",
    "/analytics/cohorts/?metric=revenue",
    "/analytics/model/",
]


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


def names_in(response) -> set[str]:
    body = response.content.decode()
    return {name for name in (f"C{i}" for i in range(1, 11)) if f">{name} Customer<" in body}


@pytest.mark.parametrize("url", PAGES)
def test_every_page_renders_without_inline_script(web_client_for, owner, refreshed, url):
    response = web_client_for(owner).get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert "<script>" not in body and " style=" not in body and "onclick" not in body.lower()


def test_pages_before_any_refresh_say_so(web_client_for, owner):
    response = web_client_for(owner).get("/analytics/rfm/")
    assert response.status_code == 200
    assert "No analytics computed yet" in response.content.decode()


def test_rfm_cell_links_to_the_customers_in_it(web_client_for, owner, refreshed):
    client = web_client_for(owner)
    body = client.get("/analytics/rfm/").content.decode()
    assert "/analytics/customers/?r=5&amp;fm=4" in body
    assert names_in(client.get("/analytics/customers/?r=5&fm=4")) == {"C1"}
    assert names_in(client.get("/analytics/customers/?segment=Lost")) == {"C9", "C10"}


def test_the_customers_and_at_risk_lists_can_be_acted_on(web_client_for, owner, refreshed):
    client = web_client_for(owner)
    customers = client.get("/analytics/customers/?tier=silver").content.decode()
    assert 'action="/bulk/contacts/"' in customers
    assert 'name="list" value="customers"' in customers
    assert 'name="filter" value="tier=silver"' in customers
    at_risk = client.get("/analytics/at-risk/").content.decode()
    assert "customers-table" in at_risk and 'name="list" value="at_risk"' in at_risk


def test_customers_filters_and_sorting(web_client_for, owner, refreshed):
    client = web_client_for(owner)
    assert names_in(client.get("/analytics/customers/?tier=silver")) == {"C8", "C2"}
    assert names_in(client.get("/analytics/customers/?sort=-revenue&top_percent=20")) == {
        "C8",
        "C2",
    }
    assert names_in(client.get("/analytics/customers/?q=C10")) == {"C10"}
    response = client.get("/analytics/customers/?sort=-revenue")
    body = response.content.decode()
    assert body.index(">C8 Customer<") < body.index(">C2 Customer<") < body.index(">C3 Customer<")
    response = client.get("/analytics/customers/?r=9&cohort=bad")
    assert response.status_code == 200
    assert "Some filters cannot be used" in response.content.decode()


def test_customers_htmx_request_gets_the_fragment(web_client_for, owner, refreshed):
    response = web_client_for(owner).get(
        "/analytics/customers/?tier=silver", HTTP_HX_REQUEST="true"
    )
    assert "<html" not in response.content.decode()
    assert names_in(response) == {"C8", "C2"}


def test_customers_list_query_budget(
    web_client_for, owner, refreshed, django_assert_max_num_queries
):
    client = web_client_for(owner)
    client.get("/analytics/customers/")
    with django_assert_max_num_queries(14):
        client.get("/analytics/customers/")


def test_outsider_sees_an_empty_book_and_teammate_the_same(
    web_client_for, outsider, teammate, refreshed
):
    assert names_in(web_client_for(outsider).get("/analytics/customers/")) == set()
    assert len(names_in(web_client_for(teammate).get("/analytics/customers/"))) == 10
    body = web_client_for(outsider).get("/analytics/").content.decode()
    assert "customers with orders" in body


def test_scoped_figures_equal_the_stored_whole_book(owner, admin_user, refreshed):
    """The owner (team scope) gets live figures; the admin the stored ones: same book, same numbers."""
    assert book.sees_whole_book(admin_user) and not book.sees_whole_book(owner)
    assert book.rfm(owner, refreshed) == book.rfm(admin_user, refreshed)
    assert book.pareto(owner, refreshed) == book.pareto(admin_user, refreshed)
    assert book.clv(owner, refreshed) == book.clv(admin_user, refreshed)
    assert book.cohorts(owner, refreshed) == book.cohorts(admin_user, refreshed)


def test_export_neutralises_formulas(web_client_for, owner, refreshed):
    sneaky = make_contact(owner=owner, first_name="=HYPERLINK(1)", last_name="X")
    make_order(contact=sneaky, total="5.00")
    from rapport.analytics import refresh

    run = refresh.request_refresh(actor=owner)
    refresh.run_refresh(run_id=run.pk)
    response = web_client_for(owner).get("/analytics/customers/export.csv?sort=-revenue")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["contact_id", "first_name", "last_name"]
    assert len(rows) == 12
    assert [row[1] for row in rows if "HYPERLINK" in row[1]] == ["'=HYPERLINK(1)"]


def test_customer_value_panel_on_the_360_page(
    web_client_for, owner, outsider, refreshed, book_contacts
):
    c1 = book_contacts["C1"]
    body = page_with_panels(web_client_for(owner), c1.get_absolute_url())
    assert "Customer value" in body
    assert "Champions" in body
    assert "R 5 · F 5 · M 3" in body
    assert "Not available" in body  # too few customers for the purchase model, said plainly
    assert web_client_for(outsider).get(c1.get_absolute_url()).status_code == 404


def test_customer_history_page(web_client_for, owner, outsider, refreshed, book_contacts):
    url = f"/analytics/customers/{book_contacts['C1'].pk}/history/"
    response = web_client_for(owner).get(url)
    assert response.status_code == 200
    assert "history-data" in response.content.decode()
    assert web_client_for(outsider).get(url).status_code == 404


def test_refresh_button(web_client_for, owner, book_contacts, django_capture_on_commit_callbacks):
    client = web_client_for(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/analytics/refresh/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert CustomerAnalytics.objects.count() == 10
    status = client.get("/analytics/refresh/status/").content.decode()
    assert "Last refresh" in status


def test_read_only_cannot_refresh_or_configure(web_client_for, refreshed, db):
    from rapport.accounts.tests.factories import RoleFactory, UserFactory

    reader = UserFactory(
        username="reader",
        role=RoleFactory(name="RO", is_read_only=True, scopes={"contacts": "all"}),
    )
    client = web_client_for(reader)
    assert client.post("/analytics/refresh/").status_code == 403
    assert client.get("/analytics/settings/").status_code == 403
    assert client.get("/analytics/customers/").status_code == 200


def test_settings_page_validates(web_client_for, admin_user):
    client = web_client_for(admin_user)
    assert client.get("/analytics/settings/").status_code == 200
    data = {
        "expected_purchases_days": 90,
        "clv_horizon_months": 12,
        "monthly_discount_rate": 0.01,
        "platinum_share": 0.3,
        "gold_share": 0.05,
        "silver_share": 0.2,
        "p_alive_threshold": 0.5,
        "overdue_factor": 3,
        "holdout_days": 182,
        "keep_daily_snapshots_days": 35,
        "nightly_hour": 2,
    }
    response = client.post("/analytics/settings/", data)
    assert response.status_code == 422
    assert "Tier shares must grow" in response.content.decode()
    data["platinum_share"] = 0.02
    assert client.post("/analytics/settings/", data).status_code == 302


def silver(value="silver", op="eq") -> str:
    """What the condition builder posts: the condition's JSON."""
    return json.dumps({"all": [{"field": "analytics.value_tier", "op": op, "value": value}]})


def test_segment_editor_live_count(web_client_for, owner, refreshed):
    client = web_client_for(owner)
    body = client.post(
        "/analytics/segments/count/", {"conditions": silver()}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "<strong>2</strong> contacts in your access match right now" in body
    one = json.dumps({"all": [{"field": "analytics.segment", "op": "eq", "value": "Champions"}]})
    body = client.post("/analytics/segments/count/", {"conditions": one}).content.decode()
    assert "<strong>1</strong> contact in your access matches right now" in body
    # "is one of" posts the chosen choices' keys; no condition at all matches everyone.
    body = client.post(
        "/analytics/segments/count/", {"conditions": silver(["silver", "gold"], "in")}
    ).content.decode()
    assert "contacts in your access match right now" in body
    body = client.post("/analytics/segments/count/", {"conditions": ""}).content.decode()
    assert "<strong>10</strong> contacts in your access match right now" in body
    bad = json.dumps({"all": [silver_leaf(), {"field": "analytics.predicted_clv", "op": "gt"}]})
    body = client.post("/analytics/segments/count/", {"conditions": bad}).content.decode()
    assert "Condition 2, value: is required for this operator." in body
    assert "Fix the conditions to see who matches." in body
    body = client.post("/analytics/segments/count/", {"conditions": "{"}).content.decode()
    assert "Not valid JSON" in body and "<strong>" not in body
    # Saving with a condition the segment fields cannot take puts the problem on the builder.
    response = client.post(
        "/analytics/segments/new/",
        {"name": "Wrong", "kind": "dynamic", "conditions": silver(op="contains")},
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "Condition 1, operator: &#x27;contains&#x27; cannot be used with Value tier" in body
    assert 'id="id_conditions_error"' in body


def silver_leaf() -> dict:
    return {"field": "analytics.value_tier", "op": "eq", "value": "silver"}


def test_segment_and_rule_editors_render_through_the_one_condition_builder(
    web_client_for, owner, admin_user, refreshed
):
    from rapport.analytics.forms import SegmentForm
    from rapport.core.condition_builder import ConditionBuilder
    from rapport.sales.forms import AssignmentRuleForm, ScoringRuleForm

    assert isinstance(SegmentForm().fields["conditions"].widget, ConditionBuilder)
    assert isinstance(ScoringRuleForm().fields["condition"].widget, ConditionBuilder)
    assert isinstance(AssignmentRuleForm().fields["condition"].widget, ConditionBuilder)
    segment_page = web_client_for(owner).get("/analytics/segments/new/").content.decode()
    scoring_page = web_client_for(admin_user).get("/sales/scoring/").content.decode()
    for body in (segment_page, scoring_page):
        assert "data-condition-builder" in body and "data-condition-source" in body
    # The segment's fields come with their groups, narrowed operators and choices by label.
    form = SegmentForm()
    fields = {entry["name"]: entry for entry in form.fields["conditions"].widget.fields()}
    assert fields["analytics.value_tier"]["group"] == "Customer value"
    assert ["silver", "Silver"] in fields["analytics.value_tier"]["choices"]
    assert fields["tags"]["operators"] == ["eq", "ne", "in", "not_in", "is_empty", "is_not_empty"]
    assert "eq" not in fields["interactions.days_since_touch"]["operators"]
    assert "Customer value" in segment_page and "&quot;group&quot;" in segment_page
    # No rows are rendered by the server any more: the old editor's inputs are gone.
    assert 'name="field-0"' not in segment_page and 'name="advanced"' not in segment_page


def test_segment_pages(web_client_for, owner, outsider, refreshed):
    client = web_client_for(owner)
    response = client.post(
        "/analytics/segments/new/",
        {
            "name": "Silver",
            "kind": "dynamic",
            "conditions": silver(),
        },
    )
    assert response.status_code == 302
    detail = client.get(response["Location"]).content.decode()
    assert "2 members in your access" in detail and "C8 Customer" in detail
    outsider_view = web_client_for(outsider).get(response["Location"]).content.decode()
    assert "0 members in your access" in outsider_view
    export = client.get(response["Location"] + "export.csv")
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert len(rows) == 3 and rows[0][0] == "contact_id"
    duplicate = client.post("/analytics/segments/new/", {"name": "silver", "kind": "static"})
    assert duplicate.status_code == 422
    assert "Another segment already has this name." in duplicate.content.decode()
    assert web_client_for(outsider).get(response["Location"] + "edit/").status_code == 403


def test_segment_pages_show_and_keep_the_stored_conditions(web_client_for, owner, refreshed):
    from rapport.analytics.models import Segment

    client = web_client_for(owner)
    nested = {
        "any": [
            silver_leaf(),
            {"not": {"field": "analytics.is_at_risk", "op": "eq", "value": True}},
        ]
    }
    flat = {
        "any": [
            {"field": "analytics.value_tier", "op": "in", "value": ["silver", "gold"]},
            {"field": "analytics.is_at_risk", "op": "eq", "value": True},
        ]
    }
    for name, conditions in (("Nested", nested), ("Flat", flat)):
        response = client.post(
            "/analytics/segments/new/",
            {"name": name, "kind": "dynamic", "conditions": json.dumps(conditions)},
        )
        assert response.status_code == 302
        segment = Segment.objects.get(name=name)
        assert segment.conditions == conditions
        # Opened again, the builder holds the same JSON, with its live count.
        edit = client.get(f"/analytics/segments/{segment.pk}/edit/").content.decode()
        assert "matches right now" in edit or "match right now" in edit
        assert (
            client.post(
                f"/analytics/segments/{segment.pk}/edit/",
                {"name": name, "conditions": json.dumps(conditions)},
            ).status_code
            == 302
        )
        assert Segment.objects.get(pk=segment.pk).conditions == conditions
    detail = client.get(f"/analytics/segments/{Segment.objects.get(name='Flat').pk}/").content
    assert "Value tier <em>is one of</em> <strong>Silver, Gold</strong>" in detail.decode()
    assert "At risk of churning <em>is</em> <strong>yes</strong>" in detail.decode()
    detail = client.get(f"/analytics/segments/{Segment.objects.get(name='Nested').pk}/").content
    assert "conditions-json" in detail.decode()
    # A static list has no conditions to edit.
    client.post("/analytics/segments/new/", {"name": "Picked", "kind": "static"})
    static = Segment.objects.get(name="Picked")
    edit = client.get(f"/analytics/segments/{static.pk}/edit/").content.decode()
    assert "data-condition-builder" not in edit
    assert (
        client.post(
            f"/analytics/segments/{static.pk}/edit/", {"name": "Picked by hand"}
        ).status_code
        == 302
    )
    # ?tier= starts the builder with that tier.
    new = client.get("/analytics/segments/new/?tier=silver").content.decode()
    assert "&quot;value&quot;: &quot;silver&quot;" in new
    assert "<strong>2</strong> contacts in your access match right now" in new
