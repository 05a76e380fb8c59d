"""Home with a role's dashboard in a real browser: the widgets load after the page, the report
chart draws under the CSP, without console errors."""

import os
import tempfile

import pytest
from playwright.sync_api import expect

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.contacts.tests.factories import make_contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("RAPPORT_SCREENSHOT_DIR", tempfile.gettempdir())


def test_home_loads_the_marketers_dashboard_and_draws_its_chart(signed_in_page):
    role = RoleFactory(name="Marketer", scopes={"contacts": "all", "sales": "own"})
    marketer = UserFactory(username="marketer", role=role)
    make_contact(owner=marketer, lifecycle_stage="lead", source="web_form")
    make_contact(owner=marketer, lifecycle_stage="lead", source="referral")
    page = signed_in_page(marketer)
    page.goto("/")
    expect(page.get_by_role("heading", name="Leads by source")).to_be_visible()
    expect(page.locator(".dashboard-grid [aria-busy=true]")).to_have_count(0)
    chart = page.locator("canvas[data-report-chart]")
    expect(chart).to_have_count(1)
    # The chart is drawn once its widget has been swapped in: wait for it (5 s at most).
    page.wait_for_function(
        "() => !!Chart.getChart(document.querySelector('canvas[data-report-chart]'))",
        timeout=5000,
    )
    expect(page.get_by_text("Not measured yet", exact=False).first).to_be_visible()
    page.screenshot(path=os.path.join(SCREENSHOTS, "rapport-dashboard-home.png"), full_page=True)


def test_an_administrator_resizes_a_built_in_widget(signed_in_page, admin_user):
    from rapport.reports.builtin_dashboards import ensure_builtin_dashboards
    from rapport.reports.models import Dashboard

    ensure_builtin_dashboards()
    manager = Dashboard.objects.get(key="manager")
    first = manager.widgets.order_by("position").first()
    page = signed_in_page(admin_user)
    page.goto(manager.get_absolute_url())
    expect(page.locator(".dashboard-grid [aria-busy=true]")).to_have_count(0)
    widget = page.locator(f"#widget-{first.pk}")
    expect(widget).to_have_class("card dashboard-widget span-6")
    widget.get_by_label("Width of Open pipeline by stage").select_option("12")
    with page.expect_navigation():
        widget.get_by_role("button", name="Resize").click()
    expect(page.locator(f"#widget-{first.pk}")).to_have_class("card dashboard-widget span-12")
    page.screenshot(path=os.path.join(SCREENSHOTS, "rapport-dashboard-edit.png"), full_page=True)
