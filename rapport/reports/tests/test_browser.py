"""A report in a real browser: the chart draws under the CSP without console errors, and a
click on a bar opens the records behind it."""

import os
import re
import tempfile

import pytest
from playwright.sync_api import expect

from rapport.contacts.tests.factories import make_contact
from rapport.reports import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("RAPPORT_SCREENSHOT_DIR", tempfile.gettempdir())


def test_a_bar_opens_the_records_behind_it(signed_in_page, owner):
    make_contact(owner=owner, lifecycle_stage="lead", first_name="Grace", last_name="Hopper")
    make_contact(owner=owner, lifecycle_stage="customer", first_name="Ada")
    report = services.create_report(
        actor=owner, name="By stage", source="contacts", group_by="lifecycle_stage"
    )
    page = signed_in_page(owner)
    page.goto(report.get_absolute_url())
    drawn = page.evaluate(
        "() => !!(window.Chart && Chart.getChart(document.getElementById('report-chart')))"
    )
    assert drawn
    page.screenshot(path=os.path.join(SCREENSHOTS, "rapport-report.png"), full_page=True)
    box = page.locator("#report-chart").bounding_box()
    bar = page.evaluate(
        "() => { const c = Chart.getChart(document.getElementById('report-chart'));"
        " const b = c.getDatasetMeta(0).data[0]; return {x: b.x, y: (b.y + b.base) / 2}; }"
    )
    page.mouse.click(box["x"] + bar["x"], box["y"] + bar["y"])
    expect(page).to_have_url(re.compile(r"/records\?g1=lead$"))
    expect(page.get_by_role("link", name="Grace Hopper")).to_be_visible()
