"""Scheduling a report by email in a real browser: people are picked by name and join the list
at once, under the CSP, without console errors."""

import os
import re
import tempfile

import pytest
from playwright.sync_api import expect

from rapport.reports.models import Delivery

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("RAPPORT_SCREENSHOT_DIR", tempfile.gettempdir())


def pick(page, text: str, name: str) -> None:
    page.wait_for_selector("[data-record-picker-ready]")  # its script has run
    field = page.get_by_label("Add a person")
    field.fill(text)
    page.get_by_role("option", name=name).click()


def test_a_manager_schedules_the_report_for_two_people(
    signed_in_page, manager, rep, pipeline_report, mailbox
):
    page = signed_in_page(manager)
    page.goto(pipeline_report.get_absolute_url())
    page.get_by_role("link", name="Schedule email").click()
    expect(page.get_by_role("heading", name="Schedule email")).to_be_visible()

    pick(page, "Ray", "Ray Rep")
    pick(page, "Mia", "Mia Manager")
    chosen = page.locator("[data-delivery-chosen] input:checked")
    expect(chosen).to_have_count(2)
    expect(page.get_by_label("Add a person")).to_have_value("")
    page.get_by_label("How often").select_option("weekly")
    page.get_by_label("On (every week)").select_option("5")
    page.locator("#id_time_of_day").fill("16:45")
    page.get_by_label("Attach").select_option("pdf_xlsx")
    page.screenshot(
        path=os.path.join(SCREENSHOTS, "rapport-schedule-email-form.png"), full_page=True
    )
    page.get_by_role("button", name="Schedule", exact=True).click()

    expect(page.get_by_text(re.compile(r"Every Friday at 4:45\sPM"))).to_be_visible()
    delivery = Delivery.objects.get()
    assert {u.username for u in delivery.recipients.all()} == {"manager", "rep"}
    assert delivery.format == "pdf_xlsx"
    page.screenshot(
        path=os.path.join(SCREENSHOTS, "rapport-schedule-email-list.png"), full_page=True
    )
