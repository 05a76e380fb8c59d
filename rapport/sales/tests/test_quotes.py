"""Quotes: numbering and versions, the copy of the deal's lines, totals, the customer's answer,
who may do what, and the PDF."""

import datetime as dt
import re
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from rapport.audit.models import ChangeRecord
from rapport.commerce.tests.factories import make_product
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core import display
from rapport.sales.models import Quote, QuoteLine, QuoteNumberCounter, QuoteStatus
from rapport.sales.quotes import numbering
from rapport.sales.quotes.pdf import printable, render_pdf
from rapport.sales.quotes.services import (
    create_quote,
    expire_due_quotes,
    mark_accepted,
    mark_declined,
    quote_pdf,
    update_quote_settings,
)
from rapport.sales.services.deal_lines import add_deal_line, update_deal_line
from rapport.sales.services.deals import update_deal

pytestmark = pytest.mark.django_db


@pytest.fixture
def tea(admin_user):
    return make_product(
        actor=admin_user, name="Assam Tea", sku="TEA-1", price="12.50", description="Loose leaf"
    )


@pytest.fixture
def cups(admin_user):
    return make_product(actor=admin_user, name="Cups", sku="CUP-6", price="3.99")


@pytest.fixture
def deal(make_deal, owner, tea, cups):
    customer = make_contact(actor=owner, owner=owner, first_name="Jörg", last_name="Müller")
    company = make_organization(actor=owner, owner=owner, name="Acme GmbH")
    deal = make_deal(owner=owner, name="Tea for Acme", contact=customer, organization=company)
    add_deal_line(actor=owner, deal=deal, product=tea, quantity=3, discount="10")
    add_deal_line(actor=owner, deal=deal, product=cups, quantity=7)
    return deal


def number(sequence: int) -> str:
    return f"Q-{timezone.localdate().year}-{sequence:04d}"


def pdf_title(data: bytes) -> str:
    """The document's title from its metadata: a literal string when it is ASCII, else
    UTF-16 in hex."""
    found = re.search(rb"/Title \((.*?)\)\n", data) or re.search(rb"/Title <([0-9a-fA-F]+)>", data)
    if data[found.start(1) - 1 : found.start(1)] == b"(":
        return found.group(1).decode("latin-1")
    return bytes.fromhex(found.group(1).decode()).decode("utf-16")


# -- numbers and versions ------------------------------------------------------------------------


def test_a_quote_copies_the_deals_lines_and_adds_them_up_to_the_cent(owner, deal):
    quote = create_quote(actor=owner, deal=deal, notes="Delivery in May")

    assert (quote.number, quote.version, quote.status) == (number(1), 1, QuoteStatus.DRAFT)
    assert [
        (line.position, line.name, line.sku, line.description, line.quantity, line.line_total)
        for line in quote.lines.all()
    ] == [
        (1, "Assam Tea", "TEA-1", "Loose leaf", 3, Decimal("33.75")),
        (2, "Cups", "CUP-6", "", 7, Decimal("27.93")),
    ]
    # 3 × 12.50 + 7 × 3.99 = 65.43 before the discount; 10 % of the tea is 3.75.
    assert (quote.subtotal, quote.discount_total, quote.total) == (
        Decimal("65.43"),
        Decimal("3.75"),
        Decimal("61.68"),
    )
    assert (quote.currency, quote.customer_name, quote.organization_name) == (
        "EUR",
        "Jörg Müller",
        "Acme GmbH",
    )
    assert quote.valid_until == timezone.localdate() + dt.timedelta(days=30)
    assert ChangeRecord.objects.filter(entity="sales.quote", object_id=str(quote.pk)).exists()


def test_numbers_follow_each_other_and_a_new_version_keeps_the_number(owner, deal, make_deal):
    first = create_quote(actor=owner, deal=deal)
    other_deal = make_deal(owner=owner, name="Other", amount="500.00")
    other = create_quote(actor=owner, deal=other_deal)
    revised = create_quote(actor=owner, deal=deal)

    assert (first.number, other.number) == (number(1), number(2))
    assert (revised.number, revised.version) == (number(1), 2)
    first.refresh_from_db()
    assert first.status == QuoteStatus.SUPERSEDED
    assert list(deal.quotes.open()) == [revised]
    assert str(revised) == f"{number(1)} v2"


def test_after_a_decision_a_new_quote_takes_a_new_number(owner, deal):
    declined = mark_declined(
        actor=owner, quote=create_quote(actor=owner, deal=deal), reason="Too dear"
    )
    again = create_quote(actor=owner, deal=deal)

    assert declined.status == QuoteStatus.DECLINED
    assert (again.number, again.version) == (number(2), 1)


@pytest.mark.django_db(transaction=True)
def test_numbers_are_taken_in_committed_transactions_and_given_back_on_rollback(db):
    year = 2031
    with transaction.atomic():
        assert numbering.take_number(year) == "Q-2031-0001"
    with pytest.raises(RuntimeError), transaction.atomic():
        assert numbering.take_number(year) == "Q-2031-0002"
        raise RuntimeError("the quote could not be written")
    with transaction.atomic():
        assert numbering.take_number(year) == "Q-2031-0002"
    assert numbering.take_number(2032) == "Q-2032-0001"
    assert QuoteNumberCounter.objects.get(year=year).last == 2


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite runs one writer at a time anyway"
)
@pytest.mark.django_db(transaction=True)
def test_quotes_created_at_the_same_moment_get_different_numbers(owner, make_deal):
    deals = [make_deal(owner=owner, name=f"Deal {i}", amount="100") for i in range(4)]
    start = threading.Barrier(len(deals))
    numbers, problems = [], []

    def create(deal):
        try:
            start.wait(timeout=10)
            numbers.append(create_quote(actor=owner, deal=deal).number)
        except Exception as exc:  # reported below, with the thread's own error
            problems.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(deal,)) for deal in deals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert problems == []
    assert sorted(numbers) == [number(1), number(2), number(3), number(4)]


def test_a_deal_without_products_is_quoted_as_one_line_of_its_amount(owner, make_deal):
    quote = create_quote(actor=owner, deal=make_deal(owner=owner, name="Consulting", amount="900"))
    assert [(line.name, line.quantity, line.line_total) for line in quote.lines.all()] == [
        ("Consulting", 1, Decimal("900.00"))
    ]
    assert quote.total == Decimal("900.00")


# -- a quote is a copy -----------------------------------------------------------------------------


def test_changing_the_deal_or_its_products_later_changes_no_quote(owner, admin_user, deal, tea):
    quote = create_quote(actor=owner, deal=deal)
    before = list(quote.lines.values_list("name", "quantity", "unit_price", "line_total"))

    line = deal.lines.get(product=tea)
    update_deal_line(actor=owner, line=line, quantity=50, unit_price="99.00")
    tea.name = "Renamed tea"
    tea.save()
    update_deal(actor=owner, deal=deal, name="Renamed deal")

    quote.refresh_from_db()
    assert list(quote.lines.values_list("name", "quantity", "unit_price", "line_total")) == before
    assert (quote.title, quote.total) == ("Tea for Acme", Decimal("61.68"))


def test_the_quote_settings_are_copied_in_when_a_quote_is_made(owner, admin_user, deal):
    update_quote_settings(
        actor=admin_user,
        company_name="Brightwave Ltd",
        default_terms="Net 30.",
        validity_days=14,
    )
    quote = create_quote(actor=owner, deal=deal)
    update_quote_settings(actor=admin_user, company_name="Someone else", default_terms="Cash.")

    quote.refresh_from_db()
    assert (quote.company_name, quote.terms) == ("Brightwave Ltd", "Net 30.")
    assert quote.valid_until == timezone.localdate() + dt.timedelta(days=14)


def test_only_administrators_change_the_quote_settings(owner, admin_user):
    with pytest.raises(PermissionDenied):
        update_quote_settings(actor=owner, company_name="Mine")
    with pytest.raises(ValidationError) as caught:
        update_quote_settings(actor=admin_user, validity_days=0)
    assert caught.value.message_dict == {
        "validity_days": ["Give a whole number of days from 1 to 365."]
    }


# -- bad input -------------------------------------------------------------------------------------


def test_a_past_validity_date_is_refused_beside_the_field(owner, deal):
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    with pytest.raises(ValidationError) as caught:
        create_quote(actor=owner, deal=deal, valid_until=yesterday)
    assert caught.value.message_dict == {"valid_until": ["Must be today or later."]}
    with pytest.raises(ValidationError) as caught:
        create_quote(actor=owner, deal=deal, valid_until="next week")
    assert caught.value.message_dict == {"valid_until": ["Enter a date as YYYY-MM-DD."]}
    assert not Quote.objects.exists()
    assert not QuoteNumberCounter.objects.exists()


def test_given_lines_with_a_negative_quantity_are_refused_naming_the_line(owner, deal):
    with pytest.raises(ValidationError) as caught:
        create_quote(
            actor=owner,
            deal=deal,
            lines=[
                {"name": "Setup", "quantity": 1, "unit_price": "100"},
                {"name": "Returns", "quantity": -2, "unit_price": "10"},
                {"name": "", "quantity": "many", "unit_price": "-1", "discount": "120"},
            ],
        )
    assert caught.value.message_dict == {
        "lines[1].quantity": ["Must be at least 1: a quote cannot offer less."],
        "lines[2].name": ["This field is required."],
        "lines[2].quantity": ["Give a whole number."],
        "lines[2].unit_price": ["Must be between 0 and 9,999,999,999.99."],
        "lines[2].discount": ["Must be between 0 and 100."],
    }
    assert not Quote.objects.exists() and not QuoteLine.objects.exists()


def test_amounts_too_large_to_store_are_refused_not_a_crash(owner, deal):
    huge = {"name": "Gold", "quantity": 1_000_000, "unit_price": "9999999999.99"}
    with pytest.raises(ValidationError) as caught:
        create_quote(actor=owner, deal=deal, lines=[{**huge, "discount": "100"}])
    assert caught.value.message_dict == {"lines[0].quantity": ["The line total is too large."]}
    big = {"name": "Silver", "quantity": 100, "unit_price": "9999999999.99"}
    with pytest.raises(ValidationError) as caught:
        create_quote(actor=owner, deal=deal, lines=[big, big])
    assert caught.value.message_dict == {"lines": ["The quote's total is too large."]}
    assert not Quote.objects.exists()


def test_given_lines_make_the_quote_instead_of_the_deals(owner, deal):
    quote = create_quote(
        actor=owner,
        deal=deal,
        lines=[{"name": "Setup", "quantity": "2", "unit_price": "100.00", "discount": "12.5"}],
    )
    assert [(line.name, line.line_total) for line in quote.lines.all()] == [
        ("Setup", Decimal("175.00"))
    ]
    assert (quote.subtotal, quote.discount_total, quote.total) == (
        Decimal("200.00"),
        Decimal("25.00"),
        Decimal("175.00"),
    )


def test_a_deal_line_cannot_have_a_negative_quantity_either(owner, deal, tea):
    with pytest.raises(ValidationError) as caught:
        add_deal_line(actor=owner, deal=deal, product=tea, quantity=-1)
    assert list(caught.value.message_dict) == ["quantity"]


def test_nothing_to_quote_and_an_archived_deal_are_refused(owner, make_deal):
    empty = make_deal(owner=owner, name="Empty", amount="0")
    with pytest.raises(ValidationError) as caught:
        create_quote(actor=owner, deal=empty)
    assert caught.value.message_dict == {
        "lines": ["Add products or an amount to the deal before quoting it."]
    }
    empty.is_archived = True
    empty.save()
    with pytest.raises(ValidationError) as caught:
        create_quote(actor=owner, deal=empty)
    assert caught.value.message_dict == {"deal": ["This deal is archived."]}


# -- the customer's answer -----------------------------------------------------------------------


def test_accepting_records_who_and_when_and_leaves_the_deal_open(owner, deal):
    quote = mark_accepted(actor=owner, quote=create_quote(actor=owner, deal=deal))

    assert (quote.status, quote.decided_by) == (QuoteStatus.ACCEPTED, owner)
    assert quote.decided_at is not None
    deal.refresh_from_db()
    assert deal.status == "open"


def test_declining_keeps_the_reason(owner, deal):
    quote = mark_declined(actor=owner, quote=create_quote(actor=owner, deal=deal), reason="Budget")
    assert (quote.status, quote.decline_reason) == (QuoteStatus.DECLINED, "Budget")


def test_wrong_transitions_are_refused_with_the_reason(owner, deal):
    first = create_quote(actor=owner, deal=deal)
    second = create_quote(actor=owner, deal=deal)

    with pytest.raises(ValidationError) as caught:
        mark_accepted(actor=owner, quote=first)
    assert caught.value.message_dict == {
        "status": [
            f"A newer version of this quote replaced it ({number(1)} (version 2)); use that one."
        ]
    }
    mark_accepted(actor=owner, quote=second)
    with pytest.raises(ValidationError) as caught:
        mark_declined(actor=owner, quote=second)
    assert caught.value.message_dict == {"status": ["This quote was already accepted."]}
    second.refresh_from_db()
    assert second.status == QuoteStatus.ACCEPTED
    first.refresh_from_db()
    assert first.status == QuoteStatus.SUPERSEDED


def test_an_expired_quote_cannot_be_accepted_and_the_daily_job_marks_it(owner, deal):
    quote = create_quote(actor=owner, deal=deal, valid_until=timezone.localdate())
    Quote.objects.filter(pk=quote.pk).update(
        valid_until=timezone.localdate() - dt.timedelta(days=1)
    )
    quote.refresh_from_db()

    with pytest.raises(ValidationError) as caught:
        mark_accepted(actor=owner, quote=quote)
    assert caught.value.message_dict["status"] == [
        f"This quote expired after {display.day_text(quote.valid_until)}; "
        "create a new version with a new date."
    ]
    assert quote.current_status(timezone.localdate()) == QuoteStatus.EXPIRED
    assert expire_due_quotes() == 1
    assert expire_due_quotes() == 0
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.EXPIRED
    # A new version of an expired quote keeps its number.
    assert (create_quote(actor=owner, deal=deal).version, quote.number) == (2, number(1))


# -- who may -------------------------------------------------------------------------------------


def test_who_may_not_change_the_deal_may_not_quote_it_or_answer_for_it(
    owner, outsider, read_only_user, deal
):
    quote = create_quote(actor=owner, deal=deal)
    for actor in (outsider, read_only_user):
        with pytest.raises(PermissionDenied):
            create_quote(actor=actor, deal=deal)
        with pytest.raises(PermissionDenied):
            mark_accepted(actor=actor, quote=quote)
        with pytest.raises(PermissionDenied):
            mark_declined(actor=actor, quote=quote)
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.DRAFT
    assert Quote.objects.count() == 1


def test_quotes_are_seen_with_their_deal(owner, teammate, outsider, read_only_user, deal):
    quote = create_quote(actor=owner, deal=deal)
    assert list(Quote.objects.visible_to(teammate)) == [quote]
    assert list(Quote.objects.visible_to(read_only_user)) == [quote]
    assert list(Quote.objects.visible_to(outsider)) == []
    assert quote_pdf(actor=read_only_user, quote=quote).startswith(b"%PDF")
    with pytest.raises(PermissionDenied):
        quote_pdf(actor=outsider, quote=quote)


# -- the PDF -------------------------------------------------------------------------------------


def test_the_pdf_carries_the_number_and_prints_any_name(owner, admin_user, make_deal):
    update_quote_settings(actor=admin_user, company_name="Łódź Trading", company_details="ул. 1")
    customer = make_contact(actor=owner, owner=owner, first_name="東京", last_name="Müller")
    deal = make_deal(owner=owner, name="Ωmega für 東京", amount="1234.56", contact=customer)
    quote = create_quote(actor=owner, deal=deal, notes="Zürich · naïve · 東京\nline two")

    data = render_pdf(quote)

    assert data.startswith(b"%PDF-")
    assert pdf_title(data) == f"Quote {quote.number} version 1"
    assert data.rstrip().endswith(b"%%EOF")


def test_characters_the_font_lacks_are_replaced_not_dropped():
    assert printable("Müller Øre Ярослав") == "Müller Øre Ярослав"
    assert printable("東京 Co.") == "?? Co."
    # Full-width and mathematical letters fall back to the letter they stand for.
    assert printable("ｆｉｎｅ\t𝐀 ㎏\n") == "fine\tA kg\n"
