"""Real Chromium: drag a deal and see it stay moved, capture a lead from another site's page,
complete a task from My day. Every page is also checked for JavaScript errors and CSP
violations by the shared `browser_page` fixture."""

import datetime as dt
import http.server
import re
import threading
from functools import partial

import pytest
from django.test import RequestFactory
from django.utils import timezone
from playwright.sync_api import expect

from rapport.sales.models import Deal, Task

pytestmark = pytest.mark.browser


def card(page, name):
    return page.locator(".deal-card", has_text=name)


def column(page, stage):
    return page.locator(f'.board-column[data-stage-id="{stage.pk}"]')


def test_drag_a_deal_to_another_stage_and_it_stays_there(
    transactional_db, signed_in_page, owner, make_deal, stages, pipeline
):
    deal = make_deal(owner=owner, name="Dragged deal", amount="4200.00")
    make_deal(owner=owner, name="Keyboard deal", amount="100.00")
    page = signed_in_page(owner)
    page.goto(f"/sales/pipelines/{pipeline.pk}/")
    proposal = column(page, stages["Proposal"])
    card(page, "Dragged deal").drag_to(proposal.locator("[data-dropzone]"))
    page.locator("[data-toast]").get_by_text("Moved “Dragged deal” to Proposal.").wait_for()
    assert proposal.locator("[data-count]").inner_text() == "1"
    assert proposal.locator("[data-total]").inner_text() == "€4,200.00"

    page.reload()
    assert card(column(page, stages["Proposal"]), "Dragged deal").count() == 1
    assert card(column(page, stages["Qualification"]), "Dragged deal").count() == 0
    deal.refresh_from_db()
    assert deal.stage == stages["Proposal"]

    # The same board by keyboard: focus a card, → moves it one stage on; Undo takes it back.
    keyboard_card = card(page, "Keyboard deal")
    keyboard_card.focus()
    page.keyboard.press("ArrowRight")
    page.locator("[data-toast]").get_by_text("Moved “Keyboard deal” to Needs analysis.").wait_for()
    page.locator("[data-toast-undo]").click()
    page.locator("[data-toast]").get_by_text("back to Qualification").wait_for()
    assert Deal.objects.get(name="Keyboard deal").stage == stages["Qualification"]

    # The analytics page draws its charts without breaking the CSP.
    page.goto(f"/sales/pipelines/{pipeline.pk}/analytics/")
    page.locator("canvas[data-chart=forecast]").wait_for()
    page.wait_for_function("() => window.Chart && Object.keys(window.Chart.instances).length === 5")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def other_site(tmp_path):
    """A tiny web server on another port: a third-party site that embeds the form."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_QuietHandler, directory=str(tmp_path))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_form_embedded_on_another_site_brings_in_an_assigned_scored_lead(
    transactional_db, browser_page, signed_in_page, other_site, live_server, admin_user, owner
):
    from rapport.sales.assignment import create_assignment_rule
    from rapport.sales.scoring.services import create_scoring_rule
    from rapport.sales.services.webforms import create_webform
    from rapport.sales.webform_embed import embed_html

    folder, origin = other_site
    create_assignment_rule(
        actor=admin_user,
        name="Germany to Olga",
        condition={"field": "country", "op": "eq", "value": "DE"},
        target_user=owner,
    )
    create_scoring_rule(
        actor=admin_user,
        name="Executive",
        condition={"field": "seniority", "op": "eq", "value": "executive"},
        points=40,
    )
    form = create_webform(
        actor=admin_user,
        name="Partner site form",
        fields=[
            {"target": "first_name", "required": True},
            {"target": "last_name", "required": True},
            {"target": "email", "required": True},
            {"target": "job_title"},
            {"target": "country"},
        ],
        campaign="partner-2030",
        allowed_origins=origin,
    )
    host = live_server.url.split("://", 1)[1]
    snippet = embed_html(RequestFactory().get("/", HTTP_HOST=host), form)
    (folder / "index.html").write_text(
        f"<!doctype html><html><head><title>Partner</title></head><body><h1>Talk to us</h1>"
        f"{snippet}</body></html>",
        encoding="utf-8",
    )
    page = browser_page
    page.goto(f"{origin}/index.html")
    page.get_by_role("textbox", name=re.compile(r"^Email")).fill("not an email")
    page.get_by_role("textbox", name=re.compile(r"^First name")).fill("Greta")
    page.get_by_role("textbox", name=re.compile(r"^Last name")).fill("Gruber")
    page.get_by_role("textbox", name=re.compile(r"^Job title")).fill("Managing Director")
    page.get_by_role("textbox", name=re.compile(r"^Country")).fill("DE")
    page.get_by_role("button", name="Send").click()
    page.locator(".rapport-error", has_text="Enter a valid email address.").wait_for()
    page.get_by_role("textbox", name=re.compile(r"^Email")).fill("greta@gruber.example")
    page.get_by_label("I agree to be contacted").check()
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Thank you — we will be in touch.").wait_for()
    assert page.url == f"{origin}/index.html"  # sent in place, the visitor stayed on the site

    signed_in_page(owner)
    page.goto("/sales/leads/")
    row = page.locator("tr", has_text="Greta Gruber")
    row.wait_for()
    # The first cell is the row's selection box (bulk actions), then the lead, then its score.
    assert re.search(r"\b40\b", row.locator("td").nth(2).inner_text())
    assert owner.get_full_name() in row.inner_text()
    row.get_by_role("link", name="Greta Gruber").click()
    page.get_by_text('Rule "Germany to Olga" matched').wait_for()
    page.get_by_text("Executive").first.wait_for()


def test_complete_a_task_from_my_day(transactional_db, signed_in_page, owner, outsider):
    from rapport.sales.services.work import create_task

    today = timezone.localtime().replace(hour=23, minute=30, second=0, microsecond=0)
    task = create_task(actor=outsider, title="Call about the upgrade", due_at=today, assignee=owner)
    create_task(actor=owner, title="Old promise", due_at=today - dt.timedelta(days=3))
    page = signed_in_page(owner)
    page.goto("/sales/my-day/")
    today_list = page.locator('[data-section="today"]')
    today_list.get_by_text("Call about the upgrade").wait_for()
    assert page.locator('[data-section="overdue"]').get_by_text("Old promise").count() == 1
    counts = page.locator("#day-counts")
    expect(counts).to_contain_text("1 overdue · 1 due today")
    today_list.get_by_role("button", name="Complete “Call about the upgrade”").click()
    page.locator(f"#task-{task.pk}.is-done").wait_for()
    expect(counts).to_contain_text("1 overdue · 0 due today")  # in place, without a reload
    task.refresh_from_db()
    assert task.status == "done" and task.completed_by == owner
    page.reload()
    assert page.locator('[data-section="today"]').get_by_text("Call about the upgrade").count() == 0
    assert page.get_by_role("heading", name="Done today").count() == 1
    assert Task.objects.filter(status="open").count() == 1
