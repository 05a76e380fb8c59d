"""Real Chromium: a deal's contact and organization are picked by name with type-ahead."""

import pytest

from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.sales.models import Deal

pytestmark = pytest.mark.browser


def test_pick_a_contact_and_an_organization_by_name(
    transactional_db, signed_in_page, owner, outsider, pipeline
):
    grace = make_contact(actor=owner, owner=owner, first_name="Grace", last_name="Hopper")
    make_contact(actor=outsider, owner=outsider, first_name="Grace", last_name="Theirs")
    navy = make_organization(actor=owner, owner=owner, name="Navy Yard")
    page = signed_in_page(owner)
    page.goto("/sales/deals/new/")

    page.get_by_label("Name").first.fill("Compiler rollout")
    contact = page.get_by_role("combobox", name="Contact")
    contact.fill("grace")
    options = page.locator("#id_contact_options [role=option]")
    options.first.wait_for()
    # Only the contact the user may see is offered.
    assert options.all_inner_texts() == ["Grace Hopper"]
    contact.press("ArrowDown")
    contact.press("Enter")
    page.get_by_role("combobox", name="Organization").fill("navy")
    page.locator("#id_organization_options [role=option]", has_text="Navy Yard").click()
    page.get_by_label("Expected close date").fill("2030-01-31")
    page.get_by_role("button", name="Create deal").click()
    page.wait_for_url("**/sales/deals/*/")

    deal = Deal.objects.get(name="Compiler rollout")
    assert (deal.contact, deal.organization) == (grace, navy)


def test_log_a_call_from_the_deal_page(transactional_db, signed_in_page, owner, make_deal):
    grace = make_contact(actor=owner, owner=owner, first_name="Grace", last_name="Hopper")
    deal = make_deal(owner=owner, name="Compiler rollout", contact=grace)
    page = signed_in_page(owner)
    page.goto(f"/sales/deals/{deal.pk}/")

    form = page.locator("#log-form")
    form.get_by_label("Note", exact=True).check()
    form.get_by_label("Subject").fill("Pricing call")
    form.get_by_role("button", name="Log it").click()
    page.get_by_role("status").get_by_text("Note logged.").wait_for()

    assert page.locator("#timeline-list").get_by_text("Pricing call").count() == 1
    assert grace.interactions.get().subject == "Pricing call"
