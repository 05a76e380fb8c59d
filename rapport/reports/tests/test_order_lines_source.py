"""Order lines as a report source: grouped by product, month and the buyer's RFM segment, money
in the company currency at the order's date, a line seen exactly when its order is."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from rapport.analytics.models import CustomerAnalytics
from rapport.commerce.models import Order, OrderLine
from rapport.commerce.rates import add_rate
from rapport.commerce.tests.factories import make_order, make_product
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.reports import services

pytestmark = pytest.mark.django_db


def noon(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def figures(result):
    axis = result.axes[0]
    return {axis.label_of(row): result.value(row) for row in result.table.rows}


def grid(result):
    first, second = result.axes
    return {
        (first.label_of(row), second.label_of(column)): result.value(row, column)
        for row in result.table.rows
        for column in result.table.columns
        if result.table.cell(row, column).records
    }


def analytics(contact, segment, tier):
    today = timezone.localdate()
    CustomerAnalytics.objects.create(
        contact=contact,
        computed_on=today,
        first_order_date=today,
        last_order_date=today,
        cohort_month=today.replace(day=1),
        orders_count=1,
        revenue_total=100.0,
        average_order_value=100.0,
        recency_days=0,
        repeat_purchases=0,
        r_score=5,
        f_score=1,
        m_score=1,
        fm_score=1,
        segment=segment,
        value_tier=tier,
    )


@pytest.fixture
def shop(owner, outsider, admin_user):
    add_rate(actor=admin_user, currency="USD", rate="0.5", valid_on=dt.date(2026, 1, 1))
    add_rate(actor=admin_user, currency="USD", rate="0.8", valid_on=dt.date(2026, 3, 1))
    books = make_product(name="Field Guide", sku="BK", category="Books", price="30.00")
    seeds = make_product(name="Seed Box", sku="SD", category="Garden", price="8.00")
    ada = make_contact(owner=owner, first_name="Ada")
    bob = make_contact(owner=owner, first_name="Bob")
    eve = make_contact(owner=outsider, first_name="Eve")
    analytics(ada, "Champions", "gold")
    analytics(bob, "New", "bronze")
    analytics(eve, "Champions", "gold")
    feb = make_order(
        contact=ada,
        ordered_at=noon(dt.date(2026, 2, 3)),
        lines=[{"product": books, "quantity": 2}, {"product": seeds}],
    )
    # In USD, at 0.5 in February and 0.8 from March: each line converts at its order's date.
    usd_feb = make_order(
        contact=bob,
        currency="USD",
        ordered_at=noon(dt.date(2026, 2, 20)),
        lines=[{"product": books, "unit_price": "40.00"}],
    )
    usd_mar = make_order(
        contact=bob,
        currency="USD",
        ordered_at=noon(dt.date(2026, 3, 10)),
        lines=[{"product": seeds, "quantity": 5, "unit_price": "10.00"}],
    )
    theirs = make_order(
        contact=eve, ordered_at=noon(dt.date(2026, 2, 5)), lines=[{"product": books}]
    )
    return {"feb": feb, "usd_feb": usd_feb, "usd_mar": usd_mar, "theirs": theirs}


def line_report(actor, **fields):
    fields.setdefault("measure", "sum")
    fields.setdefault("measure_field", "line_total")
    return services.create_report(
        actor=actor, name="Sales by line", source="order_lines", chart="bar", **fields
    )


def test_line_totals_by_product_in_the_company_currency(shop, owner):
    report = line_report(owner, group_by="product")
    result = services.run_report(report, owner)
    assert figures(result) == {
        # 2 × 30 EUR, and 40 USD at February's 0.5; the outsider's contact's line is not seen.
        "Field Guide": Decimal("80.00"),
        # 8 EUR, and 5 × 10 USD at March's 0.8.
        "Seed Box": Decimal("48.00"),
    }
    assert result.currency == "EUR"
    assert result.missing == []
    assert result.measure_label == "Sum of Line total"


def test_quantities_by_month_and_category(shop, owner):
    report = line_report(
        owner,
        group_by="ordered",
        group_period="month",
        then_by="category",
        measure_field="quantity",
    )
    result = services.run_report(report, owner)
    assert grid(result) == {
        ("Feb 2026", "Books"): Decimal("3.00"),
        ("Feb 2026", "Garden"): Decimal("1.00"),
        ("Mar 2026", "Garden"): Decimal("5.00"),
    }


def test_line_totals_by_month_and_rfm_segment(shop, owner, admin_user):
    report = line_report(admin_user, group_by="ordered", then_by="contact.segment")
    result = services.run_report(report, admin_user)
    assert grid(result) == {
        # Ada's 68 EUR and Eve's 30 EUR (administrators see every line).
        ("Feb 2026", "Champions"): Decimal("98.00"),
        ("Feb 2026", "New"): Decimal("20.00"),
        ("Mar 2026", "New"): Decimal("40.00"),
    }
    behind = services.records_behind(report, admin_user, {"g1": "2026-02-01", "g2": "Champions"})
    assert sorted(line.order.contact.first_name for line in behind) == ["Ada", "Ada", "Eve"]


def test_orders_group_by_the_contacts_value_tier(shop, owner):
    report = services.create_report(
        actor=owner,
        name="Revenue by tier",
        source="orders",
        group_by="contact.value_tier",
        measure="sum",
        measure_field="total",
    )
    result = services.run_report(report, owner)
    assert figures(result) == {"Gold": Decimal("68.00"), "Bronze": Decimal("60.00")}


def test_a_rep_sees_exactly_the_lines_of_the_orders_they_may_see(shop, owner, outsider):
    # An order of the outsider's contact placed for the owner's organization: the owner sees
    # it (and its line) through the organization, as the orders list does.
    ours = make_organization(owner=owner, name="Owner's Books Ltd")
    eve = shop["theirs"].contact
    shared = make_order(
        contact=eve,
        organization=ours,
        ordered_at=noon(dt.date(2026, 2, 6)),
        lines=[{"description": "Gift wrap", "unit_price": "2.00"}],
    )
    source = services.source_for("order_lines")
    for user in (owner, outsider):
        expected = set(
            OrderLine.objects.filter(order__in=Order.objects.visible_to(user)).values_list(
                "pk", flat=True
            )
        )
        assert set(source.matching({"all": []}, user).values_list("pk", flat=True)) == expected
    owner_orders = set(
        source.matching({"all": []}, owner).values_list("order_id", flat=True).distinct()
    )
    assert owner_orders == {shop["feb"].pk, shop["usd_feb"].pk, shop["usd_mar"].pk, shared.pk}
    outsider_orders = set(source.matching({"all": []}, outsider).values_list("order", flat=True))
    assert outsider_orders == {shop["theirs"].pk, shared.pk}


def test_conditions_narrow_the_lines(shop, owner):
    report = line_report(
        owner,
        group_by="product",
        conditions={"all": [{"field": "currency", "op": "eq", "value": "USD"}]},
    )
    assert figures(services.run_report(report, owner)) == {
        "Field Guide": Decimal("20.00"),
        "Seed Box": Decimal("40.00"),
    }


def test_the_records_behind_a_bar_link_to_their_orders(client, shop, owner):
    report = line_report(owner, group_by="product")
    behind = services.records_behind(report, owner, {"g1": "Seed Box"})
    assert sorted(line.order_id for line in behind) == sorted([shop["feb"].pk, shop["usd_mar"].pk])
    client.force_login(owner)
    response = client.get(reverse("reports:records", args=[report.pk]), {"g1": "Seed Box"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "2 order lines you may see" in page
    assert reverse("commerce:order_detail", args=[shop["usd_mar"].pk]) in page
    assert reverse("commerce:order_detail", args=[shop["theirs"].pk]) not in page
    assert f"Order #{shop['feb'].pk}" in page


def test_the_source_is_offered_with_its_fields_in_words(owner):
    source = services.source_for("order_lines")
    groups = source.group_fields()
    assert {"product", "category", "ordered", "contact.segment", "contact.value_tier"} <= set(
        groups
    )
    assert groups["contact.segment"].label == "Contact's RFM segment"
    measures = source.measure_fields()
    assert {name for name, spec in measures.items() if spec.is_money} == {
        "line_total",
        "unit_price",
    }
    assert not measures["quantity"].is_money


def test_weeks_start_on_monday_whichever_database_groups_them(shop, owner, admin_user):
    mine = shop["feb"].contact
    for day in (dt.date(2026, 4, 8), dt.date(2026, 4, 12), dt.date(2026, 4, 13)):  # Wed, Sun, Mon
        make_order(
            contact=mine,
            ordered_at=noon(day),
            lines=[{"description": "Gift wrap", "unit_price": "1.00"}],
        )
    report = line_report(
        owner,
        group_by="ordered",
        group_period="week",
        measure="count",
        measure_field="",
        conditions={"all": [{"field": "product", "op": "is_empty"}]},
    )
    assert figures(services.run_report(report, owner)) == {
        "Week of 6 Apr 2026": 2,
        "Week of 13 Apr 2026": 1,
    }
