"""Pages show dates, money and phone numbers in the one locale-aware format (rapport.core.display)."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from django.template import Context, Template
from django.utils import timezone

from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.sales.services.deals import create_deal
from rapport.sales.services.pipelines import create_pipeline

NBSP = "\u00a0"
CLOSE = dt.date(2031, 3, 9)  # never the current year, so the year shows


@pytest.fixture
def deal(owner, admin_user):
    organization = make_organization(actor=owner, owner=owner, name="Acme")
    contact = make_contact(
        actor=owner,
        owner=owner,
        first_name="Ada",
        last_name="Lovelace",
        phones=["+1 415 555 0100"],
        organization=organization,
    )
    pipeline = create_pipeline(actor=admin_user, name="New business", currency="EUR")
    return create_deal(
        actor=owner,
        owner=owner,
        name="Big deal",
        pipeline=pipeline,
        amount="1234.50",
        contact=contact,
        organization=organization,
        expected_close_date=CLOSE,
    )


def _text(html: str, element_id: str) -> str:
    return re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html).group(1)


def test_a_deal_page_shows_amount_phone_and_dates_in_one_format(web_client_for, owner, deal):
    html = web_client_for(owner).get(f"/sales/deals/{deal.pk}/").content.decode()

    assert _text(html, "deal-amount") == "€1,234.50"
    assert "<dt>Phone</dt><dd>(415) 555-0100</dd>" in html  # the home region (US), national
    assert "Expected close: Mar 9, 2031" in html


def test_the_locale_setting_changes_every_format(web_client_for, owner, deal, settings):
    settings.RAPPORT_LOCALE = "de-de"

    html = web_client_for(owner).get(f"/sales/deals/{deal.pk}/").content.decode()

    assert _text(html, "deal-amount") == f"1.234,50{NBSP}€"
    assert "Expected close: 9. März 2031" in html
    # The phone number's format follows where the number is from, not the reader's language.
    assert "<dt>Phone</dt><dd>(415) 555-0100</dd>" in html


def test_each_reader_sees_their_own_choice_of_formats(web_client_for, owner, teammate, deal):
    owner.locale = "de_DE"
    owner.save(update_fields=["locale"])

    mine = web_client_for(owner).get(f"/sales/deals/{deal.pk}/").content.decode()
    assert _text(mine, "deal-amount") == f"1.234,50{NBSP}€"
    assert "Expected close: 9. März 2031" in mine
    # The teammate sees the same deal the company's way.
    theirs = web_client_for(teammate).get(f"/sales/deals/{deal.pk}/").content.decode()
    assert _text(theirs, "deal-amount") == "€1,234.50"


def test_a_contact_page_shows_numbers_from_abroad_the_international_way(web_client_for, owner):
    contact = make_contact(
        actor=owner, owner=owner, first_name="Zoë", last_name="Müller", phones=["+49301234567"]
    )
    html = web_client_for(owner).get(f"/contacts/{contact.pk}/").content.decode()

    assert '<a href="tel:+49301234567">+49 30 1234567</a>' in html


def _render(source: str, **values) -> str:
    return Template("{% load rapport %}" + source).render(Context(values))


def test_a_moment_is_shown_in_the_readers_time_zone_and_year():
    late = dt.datetime(2030, 12, 31, 23, 30, tzinfo=dt.UTC)
    with timezone.override(zoneinfo.ZoneInfo("Europe/Berlin")):
        # Half past midnight on New Year's Day in Berlin: the day and the year both move on.
        assert _render("{{ v|moment }}", v=late) == "Jan 1, 2031, 12:30\u202fAM"
        assert _render("{{ v|day }}", v=late) == "Jan 1, 2031"
        this_year = timezone.localtime().replace(month=6, day=15, hour=9, minute=5)
        assert _render('{{ v|moment:"weekday" }}', v=this_year).startswith(
            this_year.strftime("%a, %b 15, 9:05")
        )


def test_missing_values_leave_room_for_a_default():
    assert _render('{{ v|day|default:"never" }} {{ v|moment|default:"never" }}', v=None) == (
        "never never"
    )
    assert _render("{{ v|money:'EUR' }} {{ v|phone }}", v=None) == "— "
    assert _render("{{ v|phone }}", v="call reception") == "call reception"
    assert _render("{{ v|number }} {{ v|number:2 }}", v=1234567) == "1,234,567 1,234,567.00"


def test_counts_follow_the_locale_everywhere(settings):
    """Counts are grouped the reader's way ("12.345" in German), so no page groups them with
    Django's `intcomma`, which follows only Django's own language setting."""
    from pathlib import Path

    import rapport

    root = Path(rapport.__file__).parent
    using = [
        str(path.relative_to(root))
        for pattern in ("**/templates/**/*.html", "**/*.py")
        for path in root.glob(pattern)
        if "tests" not in path.parts and "intcomma" in path.read_text(encoding="utf-8")
    ]
    assert using == []
    settings.RAPPORT_LOCALE = "de-de"
    assert (
        _render("{{ n|number }} · {{ x|number:0 }}", n=12345, x=1234567.4) == "12.345 · 1.234.567"
    )
