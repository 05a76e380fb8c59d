"""The analytics section in a real browser: the charts draw (under the CSP, without errors), a
click on a chart or a grid cell lists the customers behind it, the segment editor counts live."""

import json
import os
import re
import tempfile

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


SCREENSHOTS = os.environ.get("RAPPORT_SCREENSHOT_DIR", tempfile.gettempdir())


def chart_drawn(page, canvas_id: str) -> bool:
    return page.evaluate(
        "(id) => !!(window.Chart && window.Chart.getChart(document.getElementById(id)))",
        canvas_id,
    )


def test_rfm_grid_and_segment_chart_link_to_customers(signed_in_page, owner, refreshed):
    page = signed_in_page(owner)
    page.goto("/analytics/rfm/")
    assert chart_drawn(page, "rfm-segments-chart")
    page.screenshot(path=os.path.join(SCREENSHOTS, "rapport-analytics-rfm.png"), full_page=True)
    page.get_by_label("R 5, FM 4: 1 customers").click()
    expect(page).to_have_url(re.compile(r"/analytics/customers/\?r=5&fm=4$"))
    expect(page.locator(".customers-table tbody tr")).to_have_count(1)
    expect(page.get_by_role("link", name="C1 Customer")).to_be_visible()


def test_pareto_chart_click_opens_the_top_customers(signed_in_page, owner, refreshed):
    page = signed_in_page(owner)
    page.goto("/analytics/pareto/")
    assert chart_drawn(page, "pareto-chart")
    page.screenshot(path=os.path.join(SCREENSHOTS, "rapport-analytics-pareto.png"), full_page=True)
    box = page.locator("#pareto-chart").bounding_box()
    chart_area = page.evaluate(
        "() => { const c = Chart.getChart(document.getElementById('pareto-chart'));"
        " const p = c.getDatasetMeta(0).data[20]; return {x: p.x, y: p.y}; }"
    )
    page.mouse.click(box["x"] + chart_area["x"], box["y"] + chart_area["y"])
    expect(page).to_have_url(re.compile(r"top_percent=20"))
    expect(page.locator(".customers-table tbody tr")).to_have_count(2)


def test_cohorts_and_model_pages_draw(signed_in_page, owner, refreshed):
    page = signed_in_page(owner)
    page.goto("/analytics/cohorts/")
    assert chart_drawn(page, "cohort-chart")
    expect(page.locator("table.cohort-heatmap tbody tr").first).to_be_visible()
    page.screenshot(path=os.path.join(SCREENSHOTS, "rapport-analytics-cohorts.png"), full_page=True)
    page.goto("/analytics/model/")
    expect(page.get_by_text("Too little data").first).to_be_visible()


def settled(page) -> None:
    """Wait until htmx has no request in flight and has wired up what it swapped in: a change
    made in the few milliseconds between a swap and its settling reaches no listener yet (a
    person cannot click that fast; a test can, and then waits for a redraw that never comes)."""
    busy = page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")
    expect(busy).to_have_count(0)


def count_text(page):
    return page.locator(".segment-count")


def test_segment_editor_counts_while_editing(signed_in_page, owner, refreshed):
    page = signed_in_page(owner)
    page.goto("/analytics/segments/new/")
    # The shared condition builder draws the rows; the JSON it posts stays out of sight.
    expect(page.locator("textarea[name=conditions]")).to_be_hidden()
    expect(count_text(page)).to_contain_text("10 contacts in your access match")
    page.fill("#id_name", "Silver customers")
    page.get_by_role("button", name="Add condition").click()
    field_1 = page.get_by_label("Field of condition 1")
    # The fields come under their groups, as in the old editor.
    expect(
        field_1.locator("optgroup[label='Customer value'] option[value='analytics.value_tier']")
    ).to_have_count(1)
    field_1.select_option(label="RFM segment")
    # A field just chosen counts with the value its menu shows (the first segment, Champions).
    expect(page.get_by_label("Value of condition 1")).to_have_value("Champions")
    expect(count_text(page)).to_contain_text("1 contact in your access matches")
    page.get_by_label("Value of condition 1").select_option(label="Lost")
    expect(count_text(page)).to_contain_text("2 contacts in your access match")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Field of condition 2").select_option(label="Value tier")
    # Nobody is platinum in a book of ten (the top 1 % is less than one customer).
    expect(page.get_by_label("Value of condition 2")).to_have_value("platinum")
    expect(count_text(page)).to_contain_text("0 contacts in your access match")
    page.get_by_label("Operator of condition 2").select_option(label="is one of")
    page.get_by_label("Value of condition 2").select_option(label=["Silver", "Bronze"])
    page.get_by_label("Match", exact=True).select_option("any")
    page.get_by_label("Value of condition 2").select_option(label=["Silver"])
    expect(count_text(page)).to_contain_text("4 contacts in your access match")
    page.screenshot(path=os.path.join(SCREENSHOTS, "rapport-segment-editor.png"), full_page=True)
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("heading", name="Silver customers")).to_be_visible()
    expect(page.get_by_text("4 members in your access")).to_be_visible()

    from rapport.analytics.models import Segment

    segment = Segment.objects.get(name="Silver customers")
    assert segment.conditions == {
        "any": [
            {"field": "analytics.segment", "op": "eq", "value": "Lost"},
            {"field": "analytics.value_tier", "op": "in", "value": ["silver"]},
        ]
    }
    # Opened again, the rows show the stored condition with the choices by their labels.
    page.goto(f"/analytics/segments/{segment.pk}/edit/")
    expect(page.get_by_label("Match", exact=True)).to_have_value("any")
    expect(page.get_by_label("Field of condition 2")).to_have_value("analytics.value_tier")
    selected = page.get_by_label("Value of condition 2").locator("option:checked")
    expect(selected).to_have_text(["Silver"])
    expect(count_text(page)).to_contain_text("4 contacts in your access match")


def test_a_condition_too_nested_for_rows_is_edited_as_text(signed_in_page, owner, refreshed):
    from rapport.analytics import services
    from rapport.analytics.models import Segment

    nested = {
        "any": [
            {"field": "analytics.value_tier", "op": "eq", "value": "silver"},
            {"not": {"field": "analytics.is_at_risk", "op": "eq", "value": True}},
        ]
    }
    segment = services.create_segment(actor=owner, name="Nested", conditions=nested)
    page = signed_in_page(owner)
    page.goto(f"/analytics/segments/{segment.pk}/edit/")
    source = page.locator("textarea[name=conditions]")
    expect(source).to_be_visible()
    expect(page.get_by_text("nested groups that the rows cannot show")).to_be_visible()
    counted = count_text(page).inner_text()
    # Written as one group of rows, the menus take it back, and the count follows the text.
    flat = '{"all": [{"field": "analytics.value_tier", "op": "eq", "value": "silver"}]}'
    source.fill(flat)
    page.get_by_role("button", name="Edit with menus").click()
    expect(source).to_be_hidden()
    expect(page.get_by_label("Field of condition 1")).to_have_value("analytics.value_tier")
    expect(count_text(page)).to_contain_text("2 contacts in your access match")
    assert counted  # the nested condition had its count too
    # And any condition opens as text again.
    page.get_by_role("button", name="Edit as JSON").click()
    expect(source).to_be_visible()
    source.fill(json.dumps(nested))
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("heading", name="Nested")).to_be_visible()
    assert Segment.objects.get(pk=segment.pk).conditions == nested


def test_typing_the_segment_name_does_not_recount(signed_in_page, owner, refreshed):
    # The count follows the conditions only; typing the name (outside them) posts nothing.
    page = signed_in_page(owner)
    page.goto("/analytics/segments/new/")
    count_posts = []
    page.on(
        "request",
        lambda request: (
            count_posts.append(request.url)
            if request.url.endswith("/analytics/segments/count/")
            else None
        ),
    )
    # Adding a condition recounts (once the builder has announced the change).
    with page.expect_response("**/analytics/segments/count/"):
        page.get_by_role("button", name="Add condition").click()
    expect(page.get_by_label("Field of condition 1")).to_be_visible()
    settled(page)
    posts_after_adding = len(count_posts)
    assert posts_after_adding == 1
    page.locator("#id_name").press_sequentially("Valuable customers")
    page.wait_for_timeout(1200)

    assert len(count_posts) == posts_after_adding
    expect(page.get_by_label("Field of condition 1")).to_have_value("first_name")
