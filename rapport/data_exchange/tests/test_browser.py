"""In Chromium: review a suspected duplicate, watch the preview follow the choices, merge."""

import pytest

from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact
from rapport.data_exchange.models import ContactDuplicate
from rapport.data_exchange.services import reset_matching_rules


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_review_preview_and_merge(signed_in_page, owner, admin_user):
    # A transactional test before this one flushed every table, the rules a migration ships too.
    reset_matching_rules(actor=admin_user, entity="contact")
    survivor = make_contact(
        actor=owner, owner=owner, first_name="Ada", last_name="Lovelace", emails=["ada@engines.org"]
    )
    loser = make_contact(
        actor=owner,
        owner=owner,
        first_name="Ada",
        last_name="King",
        emails=["ada@engines.org"],
        job_title="Countess",
    )
    pair = ContactDuplicate.objects.get()
    page = signed_in_page(owner)
    page.goto("/data/duplicates/")
    page.get_by_role("link", name="Review").click()
    page.wait_for_url(f"**/data/duplicates/contact/{pair.pk}/")
    assert page.get_by_text("What the merge does").is_visible()
    # Take the loser's last name: the preview (HTMX) re-renders with that choice checked.
    choice = page.locator(f'input[name="choose_last_name"][value="{loser.pk}"]')
    with page.expect_response(
        lambda response: f"/data/duplicates/contact/{pair.pk}/?" in response.url
    ):
        choice.check()
    assert choice.is_checked()  # the re-rendered preview keeps the choice
    page.get_by_role("button", name="Merge").click()
    page.wait_for_url(f"**{survivor.get_absolute_url()}")
    survivor.refresh_from_db()
    assert (survivor.last_name, survivor.job_title) == ("King", "Countess")
    assert not Contact.objects.filter(pk=loser.pk).exists()
    assert page.rapport_problems == []
