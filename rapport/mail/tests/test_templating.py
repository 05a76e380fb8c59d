"""The merge context: what a template can say about a record, written the way pages write it."""

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

from rapport.core import display
from rapport.mail.templating import merge_context, render_for


def a_deal(**overrides):
    values = {
        "name": "Renewal",
        "amount": Decimal("12500.00"),
        "currency": "EUR",
        "stage": "Proposal",
        "expected_close_date": dt.date(2031, 3, 14),
        "custom_fields": {},
        "organization": None,
        "owner": None,
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def test_a_deal_amount_and_close_date_read_as_on_its_page():
    deal = merge_context(deal=a_deal())["deal"]

    assert deal["amount"] == display.number_text(Decimal("12500.00"), 2) == "12,500.00"
    assert deal["currency"] == "EUR"
    assert deal["close_date"] == display.day_text(dt.date(2031, 3, 14)) == "Mar 14, 2031"


def test_a_deal_without_a_close_date_leaves_the_field_empty_for_default():
    rendered = render_for(
        subject="{{ deal.amount }} {{ deal.currency }}",
        body_html="<p>By {{ deal.close_date|default('the end of the quarter') }}</p>",
        deal=a_deal(expected_close_date=None),
    )

    assert rendered.subject == "12,500.00 EUR"
    assert "By the end of the quarter" in rendered.html
