"""The grouping maths: periods, merging partials, measures, ordering, money."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rapport.core.currency import RateBook
from rapport.reports import grouping
from rapport.reports.grouping import Axis, MoneyPartial, Partial

D = Decimal


@pytest.mark.parametrize(
    ("day", "period", "start", "label"),
    [
        (dt.date(2026, 12, 7), "day", dt.date(2026, 12, 7), "7 Dec 2026"),
        (dt.date(2026, 12, 13), "week", dt.date(2026, 12, 7), "Week of 7 Dec 2026"),
        (dt.date(2027, 1, 1), "week", dt.date(2026, 12, 28), "Week of 28 Dec 2026"),
        (dt.date(2026, 12, 31), "month", dt.date(2026, 12, 1), "Dec 2026"),
        (dt.date(2026, 8, 15), "quarter", dt.date(2026, 7, 1), "Q3 2026"),
        (dt.date(2026, 3, 31), "quarter", dt.date(2026, 1, 1), "Q1 2026"),
        (dt.date(2026, 3, 31), "year", dt.date(2026, 1, 1), "2026"),
    ],
)
def test_period_start_and_label(day, period, start, label):
    assert grouping.period_start(day, period) == start
    assert grouping.period_label(start, period) == label


def test_next_period_crosses_the_year():
    assert grouping.next_period(dt.date(2026, 10, 1), "quarter") == dt.date(2027, 1, 1)
    assert grouping.next_period(dt.date(2026, 12, 1), "month") == dt.date(2027, 1, 1)
    assert grouping.next_period(dt.date(2026, 12, 28), "week") == dt.date(2027, 1, 4)


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2999, 12, 1)),
       st.sampled_from(grouping.PERIODS))  # fmt: skip
def test_every_day_lies_in_its_period(day, period):
    start = grouping.period_start(day, period)
    assert start <= day < grouping.next_period(start, period)
    assert grouping.period_start(start, period) == start


def test_partials_merge_into_periods_with_exact_measures():
    axis = Axis(label="Created (month)", period="month")
    partials = [
        Partial(keys=(dt.date(2026, 1, 3),), records=2, values=2, total=D("10"), low=D("4"), high=D("6")),
        Partial(keys=(dt.date(2026, 1, 20),), records=1, values=1, total=D("5"), low=D("5"), high=D("5")),
        Partial(keys=(dt.date(2026, 3, 2),), records=3, values=2, total=D("9"), low=D("1"), high=D("8")),
        Partial(keys=(None,), records=4),
    ]  # fmt: skip
    table = grouping.group(partials, [axis])
    # February is filled in (a line chart has no gap), the empty group comes last.
    assert table.rows == [dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1), None]
    january = table.cell(dt.date(2026, 1, 1))
    assert january.measure("count") == 3
    assert january.measure("sum") == D("15.00")
    assert january.measure("average") == D("5.00")  # (10 + 5) / 3, not the mean of two means
    assert january.measure("min") == D("4.00")
    assert january.measure("max") == D("6.00")
    assert table.cell(dt.date(2026, 2, 1)).measure("count") == 0
    assert table.cell(dt.date(2026, 2, 1)).measure("average") is None
    assert table.cell(dt.date(2026, 3, 1)).measure("average") == D("4.50")  # 9 / 2 valued records
    assert table.total.measure("count") == 10
    assert table.total.measure("max") == D("8.00")
    assert [axis.label_of(key) for key in table.rows] == [
        "Jan 2026",
        "Feb 2026",
        "Mar 2026",
        "Not set",
    ]


def test_choices_keep_their_order_and_labels_and_empty_text_is_not_set():
    axis = Axis(
        label="Lifecycle stage",
        labels={"lead": "Lead", "customer": "Customer"},
        order=["lead", "customer"],
    )
    partials = [
        Partial(keys=("customer",), records=5),
        Partial(keys=("",), records=1),
        Partial(keys=("lead",), records=2),
        Partial(keys=(None,), records=2),
    ]
    table = grouping.group(partials, [axis])
    assert table.rows == ["lead", "customer", None]
    assert [axis.label_of(key) for key in table.rows] == ["Lead", "Customer", "Not set"]
    assert table.cell(None).records == 3


def test_two_groupings_give_cells_row_totals_and_labels():
    first = Axis(label="Owner", labels={"ada": "Ada Lovelace"})
    second = Axis(label="Won", kind="boolean")
    partials = [
        Partial(keys=("ada", True), records=2),
        Partial(keys=("ada", False), records=1),
        Partial(keys=("bob", True), records=4),
    ]
    table = grouping.group(partials, [first, second])
    assert table.rows == ["ada", "bob"]
    assert table.columns == [False, True]
    assert table.cell("bob", False).records == 0
    assert table.row_totals["ada"].records == 3
    assert [second.label_of(key) for key in table.columns] == ["No", "Yes"]
    assert first.label_of("bob") == "bob"


def test_too_many_groups_are_cut_and_counted():
    axis = Axis(label="City")
    partials = [Partial(keys=(f"city {n:03}",), records=1) for n in range(grouping.MAX_GROUPS + 5)]
    table = grouping.group(partials, [axis])
    assert len(table.rows) == grouping.MAX_GROUPS
    assert table.truncated_rows == 5


def test_money_converts_at_each_date_and_names_the_missing_rate():
    book = RateBook.from_rows("EUR", [("USD", dt.date(2026, 1, 1), D("0.5"))])
    items = [
        MoneyPartial(Partial(keys=("a",), records=1, values=1, total=D("100"), low=D("100"), high=D("100")), "USD", dt.date(2026, 2, 1)),
        MoneyPartial(Partial(keys=("a",), records=1, values=1, total=D("30"), low=D("30"), high=D("30")), "EUR", dt.date(2025, 1, 1)),
        MoneyPartial(Partial(keys=("a",), records=2, values=2, total=D("70"), low=D("20"), high=D("50")), "USD", dt.date(2025, 6, 1)),
        MoneyPartial(Partial(keys=("a",), records=1, values=1, total=D("9"), low=D("9"), high=D("9")), "GBP", dt.date(2026, 3, 1)),
    ]  # fmt: skip
    partials, missing = grouping.in_company_currency(items, book)
    table = grouping.group(partials, [Axis(label="Letter")])
    cell = table.cell("a")
    assert cell.measure("count") == 5  # every record counts, converted or not
    assert cell.measure("sum") == D("80.00")  # 100 USD at 0.5 + 30 EUR; nothing guessed
    assert cell.measure("average") == D("40.00")
    assert [(m.currency, m.earliest, m.count, m.amount) for m in missing] == [
        ("GBP", dt.date(2026, 3, 1), 1, D("9.00")),
        ("USD", dt.date(2025, 6, 1), 2, D("70.00")),
    ]
    assert missing[1].text == "No USD rate on or before 2025-06-01"


@pytest.mark.parametrize(
    ("key", "kind", "period"),
    [
        (dt.date(2026, 4, 1), "date", "quarter"),
        (True, "boolean", ""),
        (False, "boolean", ""),
        (D("2.5"), "number", ""),
        ("Berlin", "text", ""),
        (None, "text", ""),
    ],
)
def test_link_parameters_round_trip(key, kind, period):
    text = grouping.key_to_param(key)
    assert grouping.param_to_key(text, kind, period) == key


@pytest.mark.parametrize(
    ("text", "kind", "period"),
    [
        ("2026-04-02", "date", "quarter"),
        ("yes", "boolean", ""),
        ("NaN", "number", ""),
        ("x", "number", ""),
    ],
)
def test_bad_link_parameters_are_refused(text, kind, period):
    with pytest.raises((ValueError, ArithmeticError)):
        grouping.param_to_key(text, kind, period)


@pytest.mark.parametrize("period", grouping.PERIODS)
def test_a_date_in_the_last_period_of_the_calendar_groups_without_a_crash(period):
    # A mistyped close date (31 Dec 9999): filling the periods up to it must stop at it, as
    # the period after it would begin in the year 10000.
    last = dt.date(9999, 12, 31)
    partials = [
        Partial(keys=(dt.date(9999, 11, 20),), records=1),
        Partial(keys=(last,), records=1),
    ]
    table = grouping.group(partials, [Axis(label="Close date", period=period)])
    assert table.rows[-1] == grouping.period_start(last, period)
    assert table.total.measure("count") == 2


@pytest.mark.parametrize("text", ["1e999999", "1e-999999", "-1E+200"])
def test_a_number_no_column_holds_is_no_group(text):
    # PostgreSQL refuses to compare with it ("value overflows numeric format"): a 500.
    with pytest.raises(ValueError):
        grouping.param_to_key(text, "number")
    assert grouping.param_to_key("-12.5", "number") == D("-12.5")
