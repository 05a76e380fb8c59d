import datetime as dt
import decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from rapport.audit.models import ChangeRecord
from rapport.commerce import services
from rapport.commerce.choices import OrderStatus
from rapport.commerce.events import OrderPlaced, OrderStatusChanged
from rapport.commerce.models import Order, OrderLine, Product
from rapport.commerce.tests.factories import make_order, make_product
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core import events

pytestmark = pytest.mark.django_db


@pytest.fixture
def captured(django_capture_on_commit_callbacks):
    seen = []

    def remember(event):
        seen.append(event)

    for event_type in (OrderPlaced, OrderStatusChanged):
        events.subscribe(event_type, remember)
    yield seen
    for event_type in (OrderPlaced, OrderStatusChanged):
        events._subscribers[event_type].remove(remember)


def test_total_is_the_sum_of_the_lines(owner, captured, django_capture_on_commit_callbacks):
    contact = make_contact(owner=owner)
    book = make_product(price="12.50")
    pen = make_product(name="Pen", price="1.99")
    with django_capture_on_commit_callbacks(execute=True):
        order = services.place_order(
            actor=owner,
            contact=contact,
            currency="eur",
            lines=[
                {"product": book, "quantity": 2},
                {"sku": pen.sku.lower(), "quantity": 3, "unit_price": "1.50"},
            ],
        )
    assert order.total == decimal.Decimal("29.50")
    assert order.currency == "EUR"
    assert [(line.quantity, line.unit_price, line.line_total) for line in order.lines.all()] == [
        (2, decimal.Decimal("12.50"), decimal.Decimal("25.00")),
        (3, decimal.Decimal("1.50"), decimal.Decimal("4.50")),
    ]
    assert [type(e) for e in captured] == [OrderPlaced]
    assert captured[0].total == "29.50"
    assert (
        ChangeRecord.objects.filter(entity="commerce.order", object_id=str(order.pk)).count() == 1
    )


def test_a_given_total_must_match_the_lines(owner):
    contact = make_contact(owner=owner)
    book = make_product(price="12.50")
    with pytest.raises(ValidationError) as error:
        services.place_order(
            actor=owner, contact=contact, lines=[{"product": book, "quantity": 2}], total="20.00"
        )
    assert error.value.message_dict == {"total": ["Does not equal the sum of the lines (25.00)."]}
    assert Order.objects.count() == 0


def test_bad_lines_are_named_and_nothing_is_written(owner):
    contact = make_contact(owner=owner)
    book = make_product()
    with pytest.raises(ValidationError) as error:
        services.place_order(
            actor=owner,
            contact=contact,
            lines=[
                {"product": book, "quantity": 0},
                {"sku": "NOPE", "quantity": 1},
                {"product": book, "quantity": 1, "unit_price": "1.999"},
                {"product": book, "quantity": 1, "unit_price": "-2"},
            ],
        )
    assert error.value.message_dict == {
        "lines[0].quantity": ["Must be between 1 and 1000000."],
        "lines[1].sku": ["No product has this SKU."],
        "lines[2].unit_price": ["Use at most two decimal places."],
        "lines[3].unit_price": ["Must not be negative."],
    }
    assert Order.objects.count() == 0
    assert OrderLine.objects.count() == 0


def test_order_without_lines_needs_a_total_and_a_customer(owner):
    with pytest.raises(ValidationError) as error:
        services.place_order(actor=owner, currency="EURO")
    assert error.value.message_dict == {
        "contact": ["An order belongs to a contact, an organization or both."],
        "currency": ["Use a three-letter ISO 4217 code, e.g. EUR."],
        "total": ["Give the lines or the order total."],
    }


def test_future_and_naive_dates(owner, settings):
    contact = make_contact(owner=owner)
    with pytest.raises(ValidationError) as error:
        make_order(contact=contact, ordered_at=timezone.now() + dt.timedelta(days=3))
    assert error.value.message_dict == {"ordered_at": ["Must not be in the future."]}
    order = make_order(contact=contact, ordered_at="2024-05-01")
    assert order.ordered_at == dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def test_contact_order_takes_the_primary_organization(owner):
    organization = make_organization(owner=owner)
    contact = make_contact(owner=owner, organization=organization)
    order = make_order(contact=contact)
    assert order.organization == organization


def test_status_moves_forward_and_final_states_stay(
    owner, captured, django_capture_on_commit_callbacks
):
    order = make_order(contact=make_contact(owner=owner), status=OrderStatus.PLACED)
    assert not order.is_revenue
    with django_capture_on_commit_callbacks(execute=True):
        order = services.set_order_status(actor=owner, order=order, status=OrderStatus.PAID)
    assert order.is_revenue
    assert captured[-1] == OrderStatusChanged(
        order_id=order.pk,
        contact_id=order.contact_id,
        from_status="placed",
        to_status="paid",
        actor_id=owner.pk,
    )
    order = services.set_order_status(actor=owner, order=order, status=OrderStatus.REFUNDED)
    assert not order.is_revenue
    with pytest.raises(ValidationError) as error:
        services.set_order_status(actor=owner, order=order, status=OrderStatus.PAID)
    assert error.value.message_dict == {
        "status": ["A refunded order can only become: nothing (it is final)."]
    }
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED


def test_only_revenue_statuses_count(owner):
    contact = make_contact(owner=owner)
    for status, total in [
        ("placed", "1.00"),
        ("paid", "10.00"),
        ("shipped", "100.00"),
        ("cancelled", "1000.00"),
        ("refunded", "10000.00"),
    ]:
        make_order(contact=contact, status=status, total=total)
    revenue = sum(o.total for o in Order.objects.revenue())
    assert revenue == decimal.Decimal("110.00")


def test_update_order_replaces_lines_and_rechecks_total(owner):
    contact = make_contact(owner=owner)
    book = make_product(price="5.00")
    order = services.place_order(actor=owner, contact=contact, lines=[{"product": book}])
    order = services.update_order(
        actor=owner, order=order, lines=[{"product": book, "quantity": 4}]
    )
    assert order.total == decimal.Decimal("20.00")
    assert order.lines.get().quantity == 4
    with pytest.raises(ValidationError) as error:
        services.update_order(actor=owner, order=order, total="3.00")
    assert error.value.message_dict == {"total": ["Does not equal the sum of the lines (20.00)."]}
    order.refresh_from_db()
    assert order.total == decimal.Decimal("20.00")


def test_sku_is_unique_ignoring_case(owner):
    make_product(sku="AB-1")
    with pytest.raises(ValidationError) as error:
        make_product(sku="ab-1")
    assert error.value.message_dict == {"sku": ["Another product already has this SKU."]}
    assert Product.objects.count() == 1


def test_import_order_is_idempotent_and_finds_contact_by_email(owner):
    contact = make_contact(owner=owner, emails=["ada@example.com"])
    book = make_product(sku="BK-1", price="7.00")
    rows = [
        {
            "order_id": "A1",
            "email": "ADA@example.com",
            "ordered_at": "2025-01-02",
            "sku": "BK-1",
            "quantity": "2",
        },
        {
            "order_id": "A1",
            "email": "ada@example.com",
            "ordered_at": "2025-01-02",
            "sku": "bk-1",
            "quantity": "1",
            "unit_price": "6.50",
        },
        {
            "order_id": "A2",
            "email": "ada@example.com",
            "ordered_at": "2025-02-02",
            "total": "99.90",
            "status": "Shipped",
        },
    ]
    grouped = services.group_order_rows(rows)
    assert [order["_row"] for order in grouped] == [1, 3]
    results = [services.import_order(actor=owner, data=data) for data in grouped]
    assert [created for _, created in results] == [True, True]
    first, second = (order for order, _ in results)
    assert first.contact == contact
    assert first.total == decimal.Decimal("20.50")
    assert [line.product for line in first.lines.all()] == [book, book]
    assert second.status == "shipped" and second.total == decimal.Decimal("99.90")
    again = [services.import_order(actor=owner, data=data) for data in grouped]
    assert [created for _, created in again] == [False, False]
    assert Order.objects.count() == 2


def test_import_order_reports_by_column(owner):
    with pytest.raises(ValidationError) as error:
        services.import_order(actor=owner, data={"order_id": "X", "email": "nobody@example.com"})
    assert error.value.message_dict == {
        "email": ["No contact has this email; import the contacts first."]
    }
    with pytest.raises(ValidationError) as error:
        services.import_order(actor=owner, data={"email": "x@example.com"})
    assert list(error.value.message_dict) == ["order_id"]


def test_merge_moves_orders_to_the_survivor(owner):
    loser = make_contact(owner=owner, first_name="Old")
    survivor = make_contact(owner=owner, first_name="New")
    order = make_order(contact=loser)
    assert services.move_orders(loser=loser, survivor=survivor, actor=owner) == 1
    order.refresh_from_db()
    assert order.contact == survivor


def test_bulk_orders_write_one_audit_record(owner):
    contact = make_contact(owner=owner)
    book = make_product(price="3.00")
    drafts = [
        services.validate_order(contact=contact, lines=[{"product": book, "quantity": q}])
        for q in (1, 2, 3)
    ]
    before = ChangeRecord.objects.count()
    assert services.record_orders_in_bulk(actor=owner, orders=drafts, source="demo") == 3
    assert sorted(Order.objects.values_list("total", flat=True)) == [
        decimal.Decimal("3.00"),
        decimal.Decimal("6.00"),
        decimal.Decimal("9.00"),
    ]
    assert OrderLine.objects.count() == 3
    assert ChangeRecord.objects.count() == before + 1
