"""A deal's product lines, and a won deal as revenue: the order of kind "deal" it keeps."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from rapport.audit.models import ChangeRecord
from rapport.commerce.models import Order
from rapport.commerce.tests.factories import make_product
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.sales.models import DealLine
from rapport.sales.services.deal_lines import (
    add_deal_line,
    remove_deal_line,
    set_deal_lines,
    update_deal_line,
)
from rapport.sales.services.deals import move_deal, undo_stage_move, update_deal

pytestmark = pytest.mark.django_db


@pytest.fixture
def tea(admin_user):
    return make_product(actor=admin_user, name="Tea", sku="TEA-1", price="12.50")


@pytest.fixture
def pot(admin_user):
    return make_product(actor=admin_user, name="Teapot", sku="POT-1", price="40.00")


@pytest.fixture
def customer(owner):
    organization = make_organization(actor=owner, owner=owner, name="Acme Ltd")
    contact = make_contact(actor=owner, owner=owner, first_name="Ada", last_name="Byron")
    return contact, organization


@pytest.fixture
def deal(make_deal, owner, customer):
    contact, organization = customer
    return make_deal(owner=owner, amount="500.00", contact=contact, organization=organization)


def _deal_order(deal):
    return Order.objects.filter(deal_id=deal.pk).first()


# --------------------------------------------------------------------------- lines


def test_a_line_takes_the_product_price_and_the_deal_amount_becomes_the_lines_total(
    deal, owner, tea, pot
):
    first = add_deal_line(actor=owner, deal=deal, product=tea, quantity=4)
    assert (first.unit_price, first.discount, first.line_total) == (
        Decimal("12.50"),
        Decimal("0.00"),
        Decimal("50.00"),
    )
    # 40.00 less 12.5 % is 35.00 a unit.
    add_deal_line(actor=owner, deal=deal, product=pot.pk, quantity=3, discount="12.5")
    deal.refresh_from_db()
    assert deal.amount == Decimal("155.00")
    assert list(deal.lines.values_list("line_total", flat=True)) == [
        Decimal("50.00"),
        Decimal("105.00"),
    ]


def test_a_discount_rounds_the_unit_price_to_the_cent_before_the_quantity(deal, owner, tea):
    # 12.50 less 3 % is 12.125, sold at 12.13 (half up) a unit.
    line = add_deal_line(actor=owner, deal=deal, product=tea, quantity=3, discount=3)
    assert line.net_unit_price == Decimal("12.13")
    assert line.line_total == Decimal("36.39")


def test_changing_and_removing_lines_keeps_the_amount_their_total(deal, owner, tea, pot):
    tea_line = add_deal_line(actor=owner, deal=deal, product=tea, quantity=2)
    pot_line = add_deal_line(actor=owner, deal=deal, product=pot)
    update_deal_line(actor=owner, line=tea_line, quantity=10, unit_price="11.00")
    deal.refresh_from_db()
    assert deal.amount == Decimal("150.00")
    remove_deal_line(actor=owner, line=pot_line)
    deal.refresh_from_db()
    assert deal.amount == Decimal("110.00")
    # The last line gone, the amount stays where it was and is the deal's own again.
    remove_deal_line(actor=owner, line=DealLine.objects.get(pk=tea_line.pk))
    deal.refresh_from_db()
    assert deal.amount == Decimal("110.00")
    update_deal(actor=owner, deal=deal, amount="90.00")
    deal.refresh_from_db()
    assert deal.amount == Decimal("90.00")


def test_the_amount_of_a_deal_with_lines_is_not_typed(deal, owner, tea):
    add_deal_line(actor=owner, deal=deal, product=tea, quantity=2)
    with pytest.raises(ValidationError) as caught:
        update_deal(actor=owner, deal=deal, amount="999.00")
    assert "total of the deal's product lines" in caught.value.message_dict["amount"][0]
    # Sending the amount it has (a whole form, a full PATCH) is fine.
    update_deal(actor=owner, deal=deal, amount="25.00", name="Tea for two")
    deal.refresh_from_db()
    assert (deal.name, deal.amount) == ("Tea for two", Decimal("25.00"))


def test_bad_lines_are_refused_beside_the_field_and_nothing_is_written(
    deal, owner, admin_user, tea
):
    dollars = make_product(actor=admin_user, name="Mug", sku="MUG-1", price="8", currency="USD")
    retired = make_product(actor=admin_user, name="Old tea", sku="OLD-1", is_active=False)
    cases = [
        ({"product": 999_999}, "product", "No product with this id."),
        ({"product": tea, "quantity": 0}, "quantity", "Must be between 1 and 1,000,000."),
        ({"product": tea, "discount": "120"}, "discount", "Must be between 0 and 100 %."),
        ({"product": tea, "unit_price": "-1"}, "unit_price", "Must not be negative."),
        ({"product": tea, "unit_price": "abc"}, "unit_price", "Enter an amount, e.g. 12500.00."),
        ({"product": dollars}, "unit_price", "The product is priced in USD"),
        ({"product": retired}, "product", "This product is no longer sold."),
    ]
    for values, field, message in cases:
        with pytest.raises(ValidationError) as caught:
            add_deal_line(actor=owner, deal=deal, **values)
        assert caught.value.message_dict[field][0].startswith(message), (values, caught.value)
    assert not DealLine.objects.exists()
    # Given in the deal's currency, the dollar product may be sold.
    assert add_deal_line(actor=owner, deal=deal, product=dollars, unit_price="7.50").pk


def test_replacing_all_lines_names_the_faulty_line(deal, owner, tea, pot):
    set_deal_lines(actor=owner, deal=deal, lines=[{"product": tea, "quantity": 2}])
    with pytest.raises(ValidationError) as caught:
        set_deal_lines(
            actor=owner,
            deal=deal,
            lines=[{"product": pot}, {"product": tea, "quantity": -3}],
        )
    assert "lines[1].quantity" in caught.value.message_dict
    assert list(deal.lines.values_list("product__sku", "quantity")) == [("TEA-1", 2)]


def test_a_read_only_user_and_an_outsider_cannot_touch_the_lines(
    deal, owner, tea, read_only_user, outsider
):
    line = add_deal_line(actor=owner, deal=deal, product=tea)
    before = ChangeRecord.objects.count()
    for stranger in (read_only_user, outsider):
        with pytest.raises(PermissionDenied):
            add_deal_line(actor=stranger, deal=deal, product=tea)
        with pytest.raises(PermissionDenied):
            update_deal_line(actor=stranger, line=line, quantity=9)
        with pytest.raises(PermissionDenied):
            remove_deal_line(actor=stranger, line=line)
        with pytest.raises(PermissionDenied):
            set_deal_lines(actor=stranger, deal=deal, lines=[])
    assert list(deal.lines.values_list("quantity", flat=True)) == [1]
    assert ChangeRecord.objects.count() == before


def test_line_changes_are_audited_on_the_deal(deal, owner, tea):
    add_deal_line(actor=owner, deal=deal, product=tea, quantity=2)
    record = ChangeRecord.objects.filter(entity="sales.deal", object_id=str(deal.pk)).latest("id")
    assert record.actor_id == owner.pk
    assert record.message == "added 2 × Tea"
    assert record.before["amount"] == "500.00"
    assert record.after["amount"] == "25.00"
    assert record.after["lines"][0]["product"] == tea.pk


# --------------------------------------------------------------------------- revenue


def test_winning_a_deal_writes_one_order_of_kind_deal_with_its_lines(
    deal, owner, stages, tea, pot, customer
):
    contact, organization = customer
    add_deal_line(actor=owner, deal=deal, product=tea, quantity=4)
    add_deal_line(actor=owner, deal=deal, product=pot, quantity=1, discount=10)
    assert _deal_order(deal) is None
    move_deal(actor=owner, deal=deal, stage=stages["Won"])
    deal.refresh_from_db()
    order = _deal_order(deal)
    assert (order.kind, order.status, order.currency) == ("deal", "paid", "EUR")
    assert (order.contact, order.organization) == (contact, organization)
    assert order.ordered_at == deal.closed_at
    assert order.total == deal.amount == Decimal("86.00")
    assert list(
        order.lines.values_list("product__sku", "quantity", "unit_price", "line_total")
    ) == [
        ("TEA-1", 4, Decimal("12.50"), Decimal("50.00")),
        ("POT-1", 1, Decimal("36.00"), Decimal("36.00")),
    ]
    created = ChangeRecord.objects.get(entity="commerce.order", object_id=str(order.pk))
    assert (created.action, created.actor_id) == ("create", owner.pk)


def test_a_won_deal_without_lines_is_one_line_of_its_amount(deal, owner, stages):
    move_deal(actor=owner, deal=deal, stage=stages["Won"])
    order = _deal_order(deal)
    assert order.total == Decimal("500.00")
    assert list(order.lines.values_list("description", "quantity", "unit_price")) == [
        ("Won deal", 1, Decimal("500.00"))
    ]


def test_a_won_amount_larger_than_an_order_line_holds_is_the_orders_total_alone(
    make_deal, owner, stages, customer
):
    # An order line's unit price holds 12 digits; PostgreSQL refused the win with a 500.
    contact, _organization = customer
    deal = make_deal(owner=owner, contact=contact, stage=stages["Won"], amount="50000000000.00")
    order = _deal_order(deal)
    assert order.total == Decimal("50000000000.00")
    assert not order.lines.exists()


def test_a_product_or_quantity_in_other_digits_is_refused_by_name(deal, owner):
    # "²" is a digit to str.isdigit() but not to int().
    with pytest.raises(ValidationError) as refused:
        add_deal_line(actor=owner, deal=deal, product="²", quantity="³")
    assert set(refused.value.message_dict) == {"product", "quantity"}


def test_the_order_is_created_once_and_follows_the_won_deal(deal, owner, stages, tea):
    move_deal(actor=owner, deal=deal, stage=stages["Won"])
    move_deal(actor=owner, deal=deal, stage=stages["Won"])  # already there: nothing happens
    add_deal_line(actor=owner, deal=deal, product=tea, quantity=2)
    other = make_contact(actor=owner, owner=owner, first_name="Bea")
    update_deal(actor=owner, deal=deal, contact=other)
    assert Order.objects.filter(deal_id=deal.pk).count() == 1
    order = _deal_order(deal)
    assert (order.contact, order.total) == (other, Decimal("25.00"))
    assert list(order.lines.values_list("product__sku", flat=True)) == ["TEA-1"]


def test_reopening_or_losing_a_won_deal_removes_its_order_audited(deal, owner, stages, lost_reason):
    move_deal(actor=owner, deal=deal, stage=stages["Won"])
    order_id = _deal_order(deal).pk
    move_deal(actor=owner, deal=deal, stage=stages["Negotiation"])
    assert _deal_order(deal) is None
    removed = ChangeRecord.objects.get(
        entity="commerce.order", object_id=str(order_id), action="delete"
    )
    assert removed.actor_id == owner.pk
    assert removed.message == f"the deal #{deal.pk} was reopened"
    assert removed.before["total"] == "500.00"
    move_deal(actor=owner, deal=deal, stage=stages["Won"])
    assert _deal_order(deal) is not None
    move_deal(actor=owner, deal=deal, stage=stages["Lost"], lost_reason=lost_reason)
    assert _deal_order(deal) is None
    assert ChangeRecord.objects.filter(
        entity="commerce.order", action="delete", message=f"the deal #{deal.pk} was lost"
    ).exists()


def test_undoing_the_win_removes_the_order_and_undoing_a_loss_of_a_won_deal_restores_it(
    deal, owner, stages, lost_reason
):
    win = move_deal(actor=owner, deal=deal, stage=stages["Won"])
    undo_stage_move(actor=owner, change=win)
    assert _deal_order(deal) is None
    move_deal(actor=owner, deal=deal, stage=stages["Won"])
    loss = move_deal(actor=owner, deal=deal, stage=stages["Lost"], lost_reason=lost_reason)
    assert _deal_order(deal) is None
    undo_stage_move(actor=owner, change=loss)
    assert _deal_order(deal).total == Decimal("500.00")


def test_a_deal_won_at_creation_is_revenue_at_once(make_deal, owner, stages, customer):
    contact, _organization = customer
    deal = make_deal(owner=owner, contact=contact, stage=stages["Won"], amount="70.00")
    assert _deal_order(deal).total == Decimal("70.00")


def test_a_won_deal_of_nobody_is_no_order(make_deal, owner, stages):
    deal = make_deal(owner=owner, stage=stages["Won"])
    assert _deal_order(deal) is None


def test_the_order_of_a_won_deal_is_changed_through_the_deal_only(deal, owner, stages):
    from rapport.commerce.services import delete_order, update_order

    move_deal(actor=owner, deal=deal, stage=stages["Won"])
    order = _deal_order(deal)
    for call in (
        lambda: update_order(actor=owner, order=order, note="mine"),
        lambda: delete_order(actor=owner, order=order),
    ):
        with pytest.raises(ValidationError) as caught:
            call()
        assert "records a won deal" in caught.value.message_dict["kind"][0]
    assert _deal_order(deal).note == "Won deal: Big deal"


def test_the_order_of_a_won_deal_can_only_be_refunded(deal, owner, stages):
    from rapport.commerce.services import set_order_status

    move_deal(actor=owner, deal=deal, stage=stages["Won"])
    order = _deal_order(deal)
    for status in ("shipped", "cancelled"):
        with pytest.raises(ValidationError) as caught:
            set_order_status(actor=owner, order=order, status=status)
        assert "only be refunded" in caught.value.message_dict["status"][0]
    assert set_order_status(actor=owner, order=order, status="refunded").status == "refunded"


def test_a_stranger_cannot_win_a_deal_into_revenue(deal, stages, read_only_user, outsider):
    for stranger in (read_only_user, outsider):
        with pytest.raises(PermissionDenied):
            move_deal(actor=stranger, deal=deal, stage=stages["Won"])
    assert not Order.objects.exists()


def test_a_deal_with_lines_keeps_its_currency(deal, owner, tea):
    add_deal_line(actor=owner, deal=deal, product=tea)
    with pytest.raises(ValidationError) as caught:
        update_deal(actor=owner, deal=deal, currency="USD")
    assert "remove them first" in caught.value.message_dict["currency"][0]
    deal.refresh_from_db()
    assert deal.currency == "EUR"


def test_the_orders_page_links_the_deal_only_for_who_may_open_it(deal, owner, stages, client):
    from django.urls import reverse

    from rapport.accounts.tests.factories import RoleFactory, UserFactory

    move_deal(actor=owner, deal=deal, stage=stages["Won"])
    url = reverse("commerce:order_detail", args=[_deal_order(deal).pk])
    deal_url = reverse("sales:deal_detail", args=[deal.pk])
    client.force_login(owner)
    assert deal_url in client.get(url).content.decode()
    # Sees every customer and order, but only their own deals.
    clerk = UserFactory(role=RoleFactory(scopes={"contacts": "all", "sales": "own"}))
    client.force_login(clerk)
    page = client.get(url)
    assert page.status_code == 200
    assert deal_url not in page.content.decode()
