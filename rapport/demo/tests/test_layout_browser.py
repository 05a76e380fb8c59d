"""Every main page of the demo business in Chromium, on a phone (390 px) and a laptop (1440 px):
nothing makes the page scroll sideways or clips a table (wide tables and the board scroll inside
their own box), and axe-core finds no critical or serious accessibility violation.

The demo is the data: real names, long organization names and every column filled are what
widen a page, and it is built through the same services as production."""

import io

import pytest
from django.core.management import call_command
from django.db.models import F
from playwright.sync_api import expect

from rapport.accounts.models import User
from rapport.contacts.models import Contact, Organization
from rapport.core import bulk
from rapport.demo.builder import DEFAULT_PASSWORD, demo_login
from rapport.frameworks.models import ModelChoice
from rapport.mail.models import EmailMessage, EmailTemplate
from rapport.sales.models import Deal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (390, 1440)
AXE = "/static/vendor/axe/4.14.1/axe.min.js"

# What could hide content: an element that clips its own overflow (overflow hidden or clip)
# while its content is wider. Scroll boxes (overflow auto) and text cut with an ellipsis are
# deliberate and skipped; so are the visually-hidden labels for screen readers, and text inputs,
# whose long value (a template's subject) scrolls under the caret as in any text field.
CLIPPED = """() => {
  const found = [];
  for (const element of document.querySelectorAll("main *")) {
    const style = getComputedStyle(element);
    if (style.overflowX !== "hidden" && style.overflowX !== "clip") continue;
    if (style.textOverflow === "ellipsis" || element.clientWidth <= 2) continue;
    if (element.tagName === "INPUT") continue;
    if (element.scrollWidth > element.clientWidth + 1) {
      found.push(`${element.tagName.toLowerCase()}.${element.className} ` +
        `(${element.scrollWidth} px of content in ${element.clientWidth} px)`);
    }
  }
  return found;
}"""


@pytest.fixture
def demo_pages():
    call_command("demo", "--contacts", "40", "--seed", "5", "--no-progress", stdout=io.StringIO())
    customer = Contact.objects.filter(lifecycle_stage="customer").order_by("pk").first()
    choice = ModelChoice.objects.first()
    # A sent message, one that was answered when there is one: the longest thread.
    answered = (
        EmailMessage.objects.filter(direction="outbound")
        .order_by(F("replied_at").desc(nulls_last=True), "pk")
        .first()
    )
    admin = User.objects.get(username=demo_login()[0])
    tagged = bulk.start(
        actor=admin,
        entity_key="contacts",
        action_key="add_tag",
        params={"tag": "Webinar autumn"},
        ids=list(Contact.objects.order_by("pk").values_list("pk", flat=True)[:5]),
    )
    return [
        "/",
        "/sales/my-day/",
        "/contacts/",
        customer.get_absolute_url(),
        "/organizations/",
        "/sales/pipeline/",
        f"/sales/deals/{Deal.objects.order_by('pk').first().pk}/",
        "/sales/leads/",
        "/analytics/",
        "/analytics/at-risk/",
        "/data/quality/",
        f"/models/{choice.model_key if choice else 'idic'}/",
        "/data/imports/",
        Organization.objects.order_by("pk").first().get_absolute_url(),
        "/mail/",
        "/mail/?tab=sent",
        "/mail/delivered/",
        f"/mail/messages/{answered.uuid}/",
        "/mail/mailboxes/",
        "/mail/templates/",
        f"/mail/templates/{EmailTemplate.objects.order_by('pk').first().pk}/",
        "/automation/webhooks/",
        "/automation/webhooks/new/",
        f"/bulk/operations/{tagged.pk}/",
    ]


def sign_in_as_demo(signed_in_page):
    username, _password = demo_login()
    return signed_in_page(User.objects.get(username=username), password=DEFAULT_PASSWORD)


def test_no_main_page_scrolls_sideways_or_clips_at_phone_or_laptop_width(
    signed_in_page, demo_pages
):
    page = sign_in_as_demo(signed_in_page)
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for path in demo_pages:
            page.goto(path)
            expect(page.locator("h1").first).to_be_visible()
            wider = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
            if wider > 0:
                problems.append(f"{path} at {width} px scrolls sideways by {wider} px")
            problems += [f"{path} at {width} px clips {c}" for c in page.evaluate(CLIPPED)]
    assert not problems, "\n".join(problems)


def test_main_pages_have_no_serious_accessibility_violations(signed_in_page, demo_pages):
    page = sign_in_as_demo(signed_in_page)
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for path in demo_pages:
            page.goto(path)
            page.add_script_tag(url=AXE)  # a same-origin file: the CSP allows it
            violations = page.evaluate(
                "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                ".filter(v => v.impact === 'critical' || v.impact === 'serious')"
                ".map(v => `${v.id} (${v.impact}): ${v.help} — ` +"
                " v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))"
            )
            problems += [f"{path} at {width} px: {violation}" for violation in violations]
    assert not problems, "\n".join(problems)
