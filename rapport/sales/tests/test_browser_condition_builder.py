"""Real Chromium: a scoring rule's condition is built from menus, never typed as JSON."""

import re

import pytest
from playwright.sync_api import expect

from rapport.sales.models import ScoringRule

pytestmark = pytest.mark.browser


def test_build_a_condition_with_menus(transactional_db, signed_in_page, admin_user):
    page = signed_in_page(admin_user)
    page.goto("/sales/scoring/")
    # The JSON stays out of sight: the builder draws the rows.
    expect(page.locator("textarea[name=condition]")).to_be_hidden()
    page.get_by_label("Name").first.fill("German decision makers")
    page.get_by_label("Points").fill("15")

    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Field of condition 1").select_option(label="Country")
    page.get_by_label("Operator of condition 1").select_option(label="is")
    page.get_by_label("Value of condition 1").fill("DE")

    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Field of condition 2").select_option(label="Lifecycle stage")
    page.get_by_label("Operator of condition 2").select_option(label="is one of")
    stages = page.get_by_label("Value of condition 2")
    stages.select_option(label=["Lead", "Sales-qualified lead"])

    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Field of condition 3").select_option(label="Meetings")
    page.get_by_label("Operator of condition 3").select_option(label="between (inclusive)")
    page.get_by_label("Value of condition 3, from").fill("1")
    page.get_by_label("Value of condition 3, to").fill("4")
    page.get_by_role("button", name="Remove condition 3").click()

    page.get_by_role("button", name="Add rule").click()
    page.get_by_text(re.compile("German decision makers")).first.wait_for()

    rule = ScoringRule.objects.get(name="German decision makers")
    assert rule.condition == {
        "all": [
            {"field": "country", "op": "eq", "value": "DE"},
            {"field": "lifecycle_stage", "op": "in", "value": ["lead", "sales_qualified"]},
        ]
    }

    # Opened again, the rule shows its rows with the choices by their names.
    page.goto(f"/sales/scoring/rules/{rule.pk}/")
    expect(page.get_by_label("Field of condition 2")).to_have_value("lifecycle_stage")
    selected = page.get_by_label("Value of condition 2").locator("option:checked")
    expect(selected).to_have_text(["Lead", "Sales-qualified lead"])


def test_an_assignment_rule_for_deals_offers_deal_fields(
    transactional_db, signed_in_page, admin_user, owner
):
    from rapport.sales.models import AssignmentRule

    page = signed_in_page(admin_user)
    page.goto("/sales/assignment/")
    page.get_by_label("Name").first.fill("Big deals to me")
    page.get_by_label("Applies to").select_option(label="Deals")
    # The builder is drawn again with the deal's fields: amount is there, a lead's facts not.
    page.get_by_role("button", name="Check against current deals").wait_for()
    page.get_by_role("button", name="Add condition").click()
    fields = page.get_by_label("Field of condition 1")
    expect(fields.locator("option", has_text="Job title")).to_have_count(0)
    fields.select_option(label="Amount")
    page.get_by_label("Operator of condition 1").select_option(label="is more than")
    page.get_by_label("Value of condition 1").fill("5000")
    page.locator("select[name=rule-target_user]").select_option(str(owner.pk))
    page.get_by_role("button", name="Add rule").click()
    page.get_by_text(re.compile("Big deals to me")).first.wait_for()

    rule = AssignmentRule.objects.get(name="Big deals to me")
    assert rule.kind == "deal"
    assert rule.condition in (
        {"all": [{"field": "amount", "op": "gt", "value": 5000}]},
        {"field": "amount", "op": "gt", "value": 5000},
    )
