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
