"""The quote pages: the Quotes card on the deal page, a new quote, the printable quote, its PDF,
the customer's answer, the settings; and who is offered and refused what."""

import datetime as dt

import pytest
from django.utils import timezone

from rapport.commerce.tests.factories import make_product
from rapport.contacts.tests.factories import make_contact
from rapport.sales.models import Quote, QuoteStatus
from rapport.sales.quotes.services import create_quote, mark_accepted
from rapport.sales.services.deal_lines import add_deal_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def deal(make_deal, owner, admin_user):
    customer = make_contact(actor=owner, owner=owner, first_name="Jörg", last_name="Müller")
    deal = make_deal(owner=owner, name="Tea for Acme", contact=customer)
    tea = make_product(actor=admin_user, name="Assam Tea", sku="TEA-1", price="12.50")
    add_deal_line(actor=owner, deal=deal, product=tea, quantity=2)
    return deal


def page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_the_deal_page_offers_quotes_to_who_may_change_the_deal(
    web_client_for, owner, read_only_user, deal
):
    html = page(web_client_for(owner), f"/sales/deals/{deal.pk}/")
    assert 'id="deal-quotes"' in html
    assert f"/sales/deals/{deal.pk}/quotes/new/" in html
    assert "No quotes yet." in html
    assert "/sales/quotes/settings/" not in html  # administrators only

    quote = create_quote(actor=owner, deal=deal)
    html = page(web_client_for(owner), f"/sales/deals/{deal.pk}/")
    assert quote.number in html and "Draft" in html
    for action in ("pdf", "accept", "decline"):
        assert f"/sales/quotes/{quote.pk}/{action}/" in html
    assert "<script>" not in html and "style=" not in html

    viewer = page(web_client_for(read_only_user), f"/sales/deals/{deal.pk}/")
    assert quote.number in viewer
    assert f"/sales/quotes/{quote.pk}/pdf/" in viewer
    assert f"/sales/deals/{deal.pk}/quotes/new/" not in viewer
    assert f"/sales/quotes/{quote.pk}/accept/" not in viewer
    assert f"/sales/quotes/{quote.pk}/send/" not in viewer


def test_creating_a_quote_from_the_page(web_client_for, owner, deal):
    client = web_client_for(owner)
    form = page(client, f"/sales/deals/{deal.pk}/quotes/new/")
    assert "Assam Tea" in form and 'name="valid_until"' in form

    past = (timezone.localdate() - dt.timedelta(days=3)).isoformat()
    refused = client.post(f"/sales/deals/{deal.pk}/quotes/new/", {"valid_until": past})
    assert refused.status_code == 422
    html = refused.content.decode()
    assert 'id="id_valid_until_error"' in html and "Must be today or later." in html
    assert not Quote.objects.exists()

    later = (timezone.localdate() + dt.timedelta(days=10)).isoformat()
    created = client.post(
        f"/sales/deals/{deal.pk}/quotes/new/", {"valid_until": later, "notes": "Thanks"}
    )
    quote = Quote.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/sales/quotes/{quote.pk}/"
    assert (quote.notes, quote.valid_until.isoformat()) == ("Thanks", later)

    again = page(client, f"/sales/deals/{deal.pk}/quotes/new/")
    assert f"This will be version 2 of {quote.number}" in again


def test_the_quote_page_and_its_pdf(web_client_for, owner, deal):
    quote = create_quote(actor=owner, deal=deal, notes="Delivery in May")
    client = web_client_for(owner)
    html = page(client, f"/sales/quotes/{quote.pk}/")
    assert quote.number in html and "Jörg Müller" in html and "Delivery in May" in html
    assert "<script>" not in html and "style=" not in html

    pdf = client.get(f"/sales/quotes/{quote.pk}/pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and quote.number.encode() in pdf.content


def test_accepting_offers_to_win_the_deal_and_declining_asks_why(web_client_for, owner, deal):
    client = web_client_for(owner)
    quote = create_quote(actor=owner, deal=deal)
    accepted = client.post(f"/sales/quotes/{quote.pk}/accept/")
    assert accepted.status_code == 302
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.ACCEPTED
    html = page(client, f"/sales/deals/{deal.pk}/")
    won = deal.pipeline.stages.get(kind="won")
    assert "The customer accepted a quote. Mark the deal won?" in html
    assert f'name="stage" value="{won.pk}"' in html
    deal.refresh_from_db()
    assert deal.status == "open"

    again = client.post(f"/sales/quotes/{quote.pk}/accept/", follow=True)
    assert "This quote was already accepted." in again.content.decode()

    second = create_quote(actor=owner, deal=deal)
    form = page(client, f"/sales/quotes/{second.pk}/decline/")
    assert "Why did the customer decline?" in form
    declined = client.post(f"/sales/quotes/{second.pk}/decline/", {"reason": "Budget"})
    assert declined.status_code == 302
    second.refresh_from_db()
    assert (second.status, second.decline_reason) == ("declined", "Budget")
    late = page(client, f"/sales/quotes/{second.pk}/decline/")
    assert "This quote was declined" in late and '<form method="post" novalidate>' not in late


def test_another_teams_rep_gets_404_and_a_viewer_403(
    web_client_for, owner, outsider, read_only_user, deal
):
    quote = create_quote(actor=owner, deal=deal)
    outside = web_client_for(outsider)
    for url in (
        f"/sales/quotes/{quote.pk}/",
        f"/sales/quotes/{quote.pk}/pdf/",
        f"/sales/quotes/{quote.pk}/send/",
        f"/sales/quotes/{quote.pk}/decline/",
        f"/sales/deals/{deal.pk}/quotes/new/",
    ):
        assert outside.get(url).status_code == 404, url
    assert outside.post(f"/sales/quotes/{quote.pk}/accept/").status_code == 404

    viewer = web_client_for(read_only_user)
    assert viewer.get(f"/sales/quotes/{quote.pk}/").status_code == 200
    assert viewer.get(f"/sales/quotes/{quote.pk}/pdf/").status_code == 200
    assert viewer.get(f"/sales/deals/{deal.pk}/quotes/new/").status_code == 403
    assert viewer.post(f"/sales/deals/{deal.pk}/quotes/new/").status_code == 403
    assert viewer.post(f"/sales/quotes/{quote.pk}/accept/").status_code == 403
    assert viewer.post(f"/sales/quotes/{quote.pk}/decline/").status_code == 403
    assert viewer.get(f"/sales/quotes/{quote.pk}/send/").status_code == 403
    assert Quote.objects.get().status == QuoteStatus.DRAFT
    mark_accepted(actor=owner, quote=quote)
    viewer_page = page(viewer, f"/sales/deals/{deal.pk}/")
    assert "Mark the deal won?" not in viewer_page


def test_the_quote_settings_are_the_administrators(web_client_for, owner, admin_user):
    assert web_client_for(owner).get("/sales/quotes/settings/").status_code == 403
    client = web_client_for(admin_user)
    assert "Company name" in page(client, "/sales/quotes/settings/")
    saved = client.post(
        "/sales/quotes/settings/",
        {"company_name": "Brightwave", "default_terms": "Net 30", "validity_days": "21"},
    )
    assert saved.status_code == 302
    refused = client.post("/sales/quotes/settings/", {"company_name": "X", "validity_days": "0"})
    assert refused.status_code == 422
