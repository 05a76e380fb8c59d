"""The company currency and exchange-rate services: admin-only writes, audit, ECB import."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from rapport.audit.models import ChangeRecord
from rapport.commerce import rates
from rapport.commerce.models import CompanyCurrency, ExchangeRate
from rapport.core.exchange import load_rate_book

pytestmark = pytest.mark.django_db

ECB_FILE = Path(__file__).parent / "data" / "ecb_rates.csv"
D = Decimal


def test_the_company_currency_comes_from_the_environment_until_an_admin_sets_it(
    settings, admin_user
):
    settings.RAPPORT_CURRENCY = "CHF"
    assert rates.company_currency() == "CHF"
    assert not CompanyCurrency.objects.exists()
    rates.set_company_currency(actor=admin_user, code="gbp")
    assert rates.company_currency() == "GBP"
    rates.set_company_currency(actor=admin_user, code="USD")
    assert list(CompanyCurrency.objects.values_list("pk", "code")) == [(1, "USD")]
    change = ChangeRecord.objects.filter(entity="commerce.companycurrency").latest("pk")
    assert (change.before, change.after) == ({"code": "GBP"}, {"code": "USD"})


def test_only_administrators_set_the_currency_or_write_rates(owner, admin_user):
    rate = rates.add_rate(actor=admin_user, currency="USD", rate="0.9", valid_on="2026-01-01")
    with pytest.raises(PermissionDenied):
        rates.set_company_currency(actor=owner, code="GBP")
    with pytest.raises(PermissionDenied):
        rates.add_rate(actor=owner, currency="GBP", rate="1.2", valid_on="2026-01-01")
    with pytest.raises(PermissionDenied):
        rates.delete_rate(actor=owner, rate=rate)
    with pytest.raises(PermissionDenied):
        rates.import_ecb_rates(actor=owner, text=ECB_FILE.read_text())
    with pytest.raises(PermissionDenied):
        rates.add_demo_rates(actor=owner)
    assert not CompanyCurrency.objects.exists()
    assert list(ExchangeRate.objects.values_list("currency", flat=True)) == ["USD"]


def test_a_rate_is_stored_to_the_company_currency_and_audited(admin_user):
    rate = rates.add_rate(actor=admin_user, currency="usd", rate="0.92", valid_on="2026-03-01")
    assert (rate.currency, rate.to_currency, rate.rate, rate.valid_on, rate.source) == (
        "USD",
        "EUR",
        D("0.92"),
        dt.date(2026, 3, 1),
        "entered",
    )
    assert str(rate) == "1 USD = 0.92 EUR from 2026-03-01"
    assert rate.created_by == admin_user
    change = ChangeRecord.objects.get(entity="commerce.exchangerate", action="create")
    assert change.after["rate"] == "0.9200000000"
    rates.delete_rate(actor=admin_user, rate=rate)
    assert not ExchangeRate.objects.exists()
    assert ChangeRecord.objects.filter(entity="commerce.exchangerate", action="delete").count() == 1


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"rate": "0"}, {"rate": ["Must be greater than zero."]}),
        ({"rate": "-1.5"}, {"rate": ["Must be greater than zero."]}),
        ({"rate": "NaN"}, {"rate": ["Give a number, e.g. 0.92."]}),
        ({"rate": "abc"}, {"rate": ["Give a number, e.g. 0.92."]}),
        ({"rate": "10000000000"}, {"rate": ["Must be at most 9999999999."]}),
        ({"currency": "EUR"}, {"currency": ["EUR is the company currency; it needs no rate."]}),
        ({"currency": "dollar"}, {"currency": ["Use a three-letter ISO 4217 code, e.g. EUR."]}),
        ({"valid_on": "01/03/2026"}, {"valid_on": ["Give a date as YYYY-MM-DD."]}),
        ({"valid_on": ""}, {"valid_on": ["This field is required."]}),
    ],
)
def test_bad_rates_are_refused_field_by_field_and_nothing_is_written(admin_user, fields, errors):
    values = {"currency": "USD", "rate": "0.9", "valid_on": "2026-03-01", **fields}
    with pytest.raises(ValidationError) as refused:
        rates.add_rate(actor=admin_user, **values)
    assert refused.value.message_dict == errors
    assert not ExchangeRate.objects.exists()


def test_a_second_rate_for_the_same_day_is_refused(admin_user):
    rates.add_rate(actor=admin_user, currency="USD", rate="0.9", valid_on="2026-03-01")
    with pytest.raises(ValidationError) as refused:
        rates.add_rate(actor=admin_user, currency="USD", rate="0.8", valid_on="2026-03-01")
    assert refused.value.message_dict == {
        "valid_on": ["There is already a USD rate for 2026-03-01; delete it first."]
    }


def test_the_rate_book_uses_only_rates_to_the_current_company_currency(admin_user):
    rates.add_rate(actor=admin_user, currency="USD", rate="0.9", valid_on="2026-01-01")
    rates.set_company_currency(actor=admin_user, code="GBP")
    rates.add_rate(actor=admin_user, currency="USD", rate="0.8", valid_on="2026-02-01")
    book = load_rate_book()
    assert book.company_currency == "GBP"
    assert book.convert(D("100"), "USD", dt.date(2026, 3, 1)) == (D("80.0000000000"), "")
    assert book.convert(D("100"), "USD", dt.date(2026, 1, 15)) == (
        None,
        "No USD rate on or before 2026-01-15",
    )
    assert rates.rates_in_use().count() == 1


def test_an_ecb_file_is_imported_with_bad_rows_reported_per_line(admin_user):
    result = rates.import_ecb_rates(actor=admin_user, text=ECB_FILE.read_text())
    assert (result.created, result.updated) == (7, 0)
    assert result.problems == [
        (4, "Not a positive rate: USD “one”; the row was skipped."),
        (5, "“yesterday” is not a date as YYYY-MM-DD."),
    ]
    got = {
        (r.currency, r.valid_on.isoformat()): (r.rate, r.source) for r in ExchangeRate.objects.all()
    }
    assert got == {
        ("USD", "2026-02-03"): (D("0.9615384615"), "imported"),  # 1 / 1.04
        ("JPY", "2026-02-03"): (D("0.0063091483"), "imported"),  # 1 / 158.5
        ("GBP", "2026-02-03"): (D("1.2500000000"), "imported"),  # 1 / 0.80
        ("CHF", "2026-02-03"): (D("1.0638297872"), "imported"),  # 1 / 0.94
        ("USD", "2026-02-02"): (D("0.9523809524"), "imported"),
        ("GBP", "2026-02-02"): (D("1.2345679012"), "imported"),
        ("CHF", "2026-02-02"): (D("1.0526315789"), "imported"),
    }
    change = ChangeRecord.objects.get(entity="commerce.exchangerate", object_id="import")
    assert change.message == "Imported exchange rates to EUR: 7 new, 0 replaced, 2 rows skipped."
    again = rates.import_ecb_rates(actor=admin_user, text=ECB_FILE.read_text())
    assert (again.created, again.updated) == (0, 0)
    assert ExchangeRate.objects.count() == 7


def test_an_import_replaces_an_entered_rate_for_the_same_day(admin_user):
    rates.add_rate(actor=admin_user, currency="USD", rate="0.5", valid_on="2026-02-02")
    result = rates.import_ecb_rates(actor=admin_user, text="Date,USD\n2026-02-02,1.25\n")
    assert (result.created, result.updated, result.problems) == (0, 1, [])
    row = ExchangeRate.objects.get()
    assert (row.rate, row.source) == (D("0.8000000000"), "imported")


def test_an_import_to_another_company_currency_uses_cross_rates(admin_user):
    rates.set_company_currency(actor=admin_user, code="GBP")
    result = rates.import_ecb_rates(actor=admin_user, text=ECB_FILE.read_text())
    assert result.created == 7  # USD, JPY, CHF and EUR on the 3rd; USD, CHF and EUR on the 2nd
    got = {(r.currency, r.valid_on.day): r.rate for r in ExchangeRate.objects.all()}
    assert got[("EUR", 3)] == D("0.8000000000")
    assert got[("USD", 3)] == D("0.7692307692")  # 0.80 / 1.04
    assert got[("USD", 2)] == D("0.7714285714")  # 0.81 / 1.05
    assert ("GBP", 3) not in got


def test_demo_rates_cover_the_last_months_and_are_labelled(admin_user):
    added = rates.add_demo_rates(actor=admin_user, today=dt.date(2026, 12, 7), months=3)
    assert added == 3 * 11
    assert set(ExchangeRate.objects.values_list("source", flat=True)) == {"demo"}
    assert set(ExchangeRate.objects.values_list("valid_on", flat=True)) == {
        dt.date(2026, 10, 1),
        dt.date(2026, 11, 1),
        dt.date(2026, 12, 1),
    }
    usd = ExchangeRate.objects.get(currency="USD", valid_on=dt.date(2026, 10, 1))
    assert usd.rate == (D(1) / (D("1.08") * (1 + D(-3) / 400))).quantize(D("1e-10"))
    assert usd.get_source_display() == "Demo rate (not a market rate)"
    assert rates.add_demo_rates(actor=admin_user, today=dt.date(2026, 12, 7), months=3) == 0


def test_the_rate_book_for_a_window_holds_only_the_rates_it_needs_and_converts_alike(
    admin_user, django_assert_max_num_queries
):
    for currency, day, rate in [
        ("USD", "2025-12-01", "0.95"),
        ("USD", "2026-01-01", "0.94"),
        ("USD", "2026-02-01", "0.93"),
        ("USD", "2026-03-01", "0.92"),
        ("USD", "2026-05-01", "0.91"),
        ("GBP", "2026-02-15", "1.17"),
        ("JPY", "2026-01-01", "0.0061"),
    ]:
        rates.add_rate(actor=admin_user, currency=currency, rate=rate, valid_on=day)
    first, last = dt.date(2026, 1, 20), dt.date(2026, 3, 10)
    with django_assert_max_num_queries(3):
        book = rates.load_rate_book(currencies={"USD", "GBP", "EUR"}, first=first, last=last)
    assert book.rates == {
        "USD": (
            [dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)],
            [D("0.94"), D("0.93"), D("0.92")],
        ),
        "GBP": ([dt.date(2026, 2, 15)], [D("1.17")]),
    }
    everything = rates.load_rate_book()
    for offset in range((last - first).days + 1):
        day = first + dt.timedelta(days=offset)
        for currency in ("USD", "GBP", "EUR"):
            assert book.convert(D("100"), currency, day) == everything.convert(
                D("100"), currency, day
            )
    assert rates.load_rate_book(currencies={"EUR"}).rates == {}


def test_an_import_with_a_date_twice_or_out_of_range_keeps_the_later_row_and_reports_once(
    admin_user,
):
    text = "Date,USD,GBP\n2026-02-02,1.25,0.8\n2026-02-02,2.00,0.5\n1850-01-01,1.1,0.9\n"
    result = rates.import_ecb_rates(actor=admin_user, text=text)
    assert (result.created, result.updated) == (2, 0)
    assert result.problems == [(4, "Give a date between 1900 and 2999.")]
    assert dict(ExchangeRate.objects.values_list("currency", "rate")) == {
        "USD": D("0.5000000000"),
        "GBP": D("2.0000000000"),
    }
