"""A deal's product lines, and the deal's revenue once it is won.

Lines name products of the catalogue (commerce's Product, reached through the foreign key:
sales does not import commerce). While a deal has lines its amount is their total. A won deal
is handed to `rapport.core.revenue`, which commerce fills, as an order of kind "deal" for its
contact and organization; it is taken back when the deal is reopened or lost. Both happen in the
transaction of the change, so a deal is won exactly when its order exists.
"""

from __future__ import annotations

import decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Sum

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change
from rapport.core import display, revenue
from rapport.core.events import emit
from rapport.core.ids import id_from_text
from rapport.sales import events
from rapport.sales.choices import DealStatus
from rapport.sales.models import Deal, DealLine
from rapport.sales.services.validation import actor_id, clean_amount

MAX_LINES = 200
MAX_QUANTITY = 1_000_000
# DealLine.unit_price holds 12 digits, two of them decimals.
MAX_UNIT_PRICE = decimal.Decimal("9999999999.99")
MAX_TOTAL = decimal.Decimal("999999999999.99")
LINE_FIELDS = {"product", "quantity", "unit_price", "discount"}
# Deal facts a won deal's order repeats: a change to one of them rewrites the order.
SOLD_FIELDS = {"name", "amount", "currency", "contact", "organization"}


def product_model():
    """The catalogue's Product model, through DealLine's foreign key."""
    return DealLine._meta.get_field("product").related_model


# --------------------------------------------------------------------------- checks


def _clean_product(value, errors: dict):
    Product = product_model()
    if isinstance(value, Product):
        return value
    if isinstance(value, str) and id_from_text(value) is not None:
        value = id_from_text(value)
    if value in (None, ""):
        errors.setdefault("product", []).append("Choose a product.")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.setdefault("product", []).append("Choose a product of the catalogue.")
        return None
    product = Product.objects.filter(pk=value).first()
    if product is None:
        errors.setdefault("product", []).append("No product with this id.")
    return product


def _clean_quantity(value, errors: dict) -> int:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())  # ASCII only: "²" is a digit to isdigit(), not to int()
    if isinstance(value, bool) or not isinstance(value, int):
        errors.setdefault("quantity", []).append("Give a whole number.")
        return 1
    if not 1 <= value <= MAX_QUANTITY:
        errors.setdefault("quantity", []).append(
            f"Must be between 1 and {display.number_text(MAX_QUANTITY)}."
        )
    return value


def _clean_discount(value, errors: dict) -> decimal.Decimal:
    if value in (None, ""):
        return decimal.Decimal("0.00")
    if isinstance(value, bool):
        errors.setdefault("discount", []).append("Give a percentage, e.g. 10.")
        return decimal.Decimal("0.00")
    try:
        discount = decimal.Decimal(str(value).strip().rstrip("%").strip())
    except decimal.InvalidOperation:
        errors.setdefault("discount", []).append("Give a percentage, e.g. 10.")
        return decimal.Decimal("0.00")
    if not discount.is_finite() or not 0 <= discount <= 100:
        errors.setdefault("discount", []).append("Must be between 0 and 100 %.")
        return decimal.Decimal("0.00")
    if discount != discount.quantize(decimal.Decimal("0.01")):
        errors.setdefault("discount", []).append("Use at most two decimal places.")
        return decimal.Decimal("0.00")
    return discount.quantize(decimal.Decimal("0.01"))


def _clean_unit_price(value, product, deal: Deal, errors: dict) -> decimal.Decimal:
    if value in (None, ""):
        if product is None:
            return decimal.Decimal("0.00")
        if product.currency != deal.currency:
            # A missing conversion is reported, not guessed.
            errors.setdefault("unit_price", []).append(
                f"The product is priced in {product.currency}; give its price in "
                f"{deal.currency}, the deal's currency."
            )
        return product.price
    price = clean_amount(value, field="unit_price", errors=errors)
    if price > MAX_UNIT_PRICE and "unit_price" not in errors:
        errors.setdefault("unit_price", []).append(
            f"Must be at most {display.number_text(MAX_UNIT_PRICE, 2)}."
        )
    return price


def _check_line(line: DealLine, errors: dict) -> None:
    if not errors and line.net_unit_price * line.quantity > MAX_TOTAL:
        errors.setdefault("quantity", []).append("The line total is too large.")
    if not errors:
        line.line_total = (line.net_unit_price * line.quantity).quantize(decimal.Decimal("0.01"))


def _require_open_to_lines(actor, deal: Deal) -> Deal:
    access.require(actor, Action.CHANGE, deal)
    deal = Deal.objects.select_for_update().get(pk=deal.pk)
    if deal.is_archived:
        raise ValidationError({"deal": ["This deal is archived."]})
    return deal


# --------------------------------------------------------------------------- the trail


def _lines_state(deal: Deal) -> list[dict]:
    return [
        {
            "product": line.product_id,
            "quantity": line.quantity,
            "unit_price": str(line.unit_price),
            "discount": str(line.discount),
            "line_total": str(line.line_total),
        }
        for line in deal.lines.order_by("position", "id")
    ]


def _describe(line: DealLine) -> str:
    return f"{line.quantity} × {line.product.name}"


def _after_lines_changed(deal: Deal, actor, before: dict, message: str) -> Deal:
    """The deal's amount follows its lines; audit; refresh the order of a won deal."""
    total = deal.lines.aggregate(total=Sum("line_total"))["total"]
    if total is not None:
        if total > MAX_TOTAL:
            raise ValidationError({"quantity": ["The deal's total is too large."]})
        # SQLite sums decimals without their scale (25, not 25.00).
        deal.amount = total.quantize(decimal.Decimal("0.01"))
        deal.save(update_fields=["amount", "updated_at"])
    after = {"amount": str(deal.amount), "lines": _lines_state(deal)}
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=deal,
        before=before,
        after=after,
        message=message[:300],
    )
    changed = ("amount", "lines") if before["amount"] != after["amount"] else ("lines",)
    emit(events.DealUpdated(deal_id=deal.pk, actor_id=actor_id(actor), changed_fields=changed))
    if deal.status == DealStatus.WON:
        record_revenue(deal, actor=actor)
    return deal


def _state(deal: Deal) -> dict:
    return {"amount": str(deal.amount), "lines": _lines_state(deal)}


# --------------------------------------------------------------------------- services


@transaction.atomic
def add_deal_line(
    *, actor, deal: Deal, product, quantity=1, unit_price=None, discount=0
) -> DealLine:
    """Add a product of the catalogue to the deal. The unit price defaults to the product's
    list price (it must be given when the product is priced in another currency); `discount`
    is a percentage. The deal's amount becomes the lines' total. Sets off DealUpdated."""
    deal = _require_open_to_lines(actor, deal)
    errors: dict[str, list[str]] = {}
    if deal.lines.count() >= MAX_LINES:
        raise ValidationError({"product": [f"A deal has at most {MAX_LINES} lines."]})
    product = _clean_product(product, errors)
    if product is not None and not product.is_active:
        errors.setdefault("product", []).append("This product is no longer sold.")
    line = DealLine(
        deal=deal,
        product=product,
        quantity=_clean_quantity(quantity, errors),
        discount=_clean_discount(discount, errors),
    )
    line.unit_price = _clean_unit_price(unit_price, product, deal, errors)
    _check_line(line, errors)
    if errors:
        raise ValidationError(errors)
    before = _state(deal)
    line.position = (deal.lines.aggregate(top=Max("position"))["top"] or 0) + 1
    line.save()
    _after_lines_changed(deal, actor, before, f"added {_describe(line)}")
    return line


@transaction.atomic
def update_deal_line(*, actor, line: DealLine, **changes) -> DealLine:
    """Change a line's product, quantity, unit price or discount. A new product brings its list
    price unless a unit price is given too. Sets off DealUpdated."""
    unknown = set(changes) - LINE_FIELDS
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    deal = _require_open_to_lines(actor, line.deal)
    line = DealLine.objects.select_related("product").get(pk=line.pk, deal=deal)
    errors: dict[str, list[str]] = {}
    if "product" in changes:
        product = _clean_product(changes["product"], errors)
        if product is not None and product.pk != line.product_id:
            if not product.is_active:
                errors.setdefault("product", []).append("This product is no longer sold.")
            line.product = product
            if "unit_price" not in changes:
                line.unit_price = _clean_unit_price(None, product, deal, errors)
    if "quantity" in changes:
        line.quantity = _clean_quantity(changes["quantity"], errors)
    if "unit_price" in changes:
        line.unit_price = _clean_unit_price(changes["unit_price"], line.product, deal, errors)
    if "discount" in changes:
        line.discount = _clean_discount(changes["discount"], errors)
    _check_line(line, errors)
    if errors:
        raise ValidationError(errors)
    before = _state(deal)
    line.save()
    _after_lines_changed(deal, actor, before, f"changed the line {_describe(line)}")
    return line


@transaction.atomic
def remove_deal_line(*, actor, line: DealLine) -> Deal:
    """Take a line off its deal. The amount stays at the last total when no line is left (and
    is editable again). Sets off DealUpdated."""
    deal = _require_open_to_lines(actor, line.deal)
    line = DealLine.objects.select_related("product").get(pk=line.pk, deal=deal)
    before = _state(deal)
    text = _describe(line)
    line.delete()
    return _after_lines_changed(deal, actor, before, f"removed {text}")


@transaction.atomic
def set_deal_lines(*, actor, deal: Deal, lines: list[dict]) -> list[DealLine]:
    """Replace all of a deal's lines at once (the demo, imports). Each item has `product` and
    optionally `quantity`, `unit_price` and `discount`; errors are keyed `lines[i].field`."""
    deal = _require_open_to_lines(actor, deal)
    if not isinstance(lines, list) or len(lines) > MAX_LINES:
        raise ValidationError({"lines": [f"Give a list of at most {MAX_LINES} lines."]})
    errors: dict[str, list[str]] = {}
    built = []
    for index, item in enumerate(lines):
        found: dict[str, list[str]] = {}
        if not isinstance(item, dict) or set(item) - LINE_FIELDS:
            errors[f"lines[{index}]"] = ["Give product, quantity, unit_price and discount."]
            continue
        product = _clean_product(item.get("product"), found)
        if product is not None and not product.is_active:
            found.setdefault("product", []).append("This product is no longer sold.")
        line = DealLine(
            deal=deal,
            product=product,
            quantity=_clean_quantity(item.get("quantity", 1), found),
            discount=_clean_discount(item.get("discount"), found),
            position=index + 1,
        )
        line.unit_price = _clean_unit_price(item.get("unit_price"), product, deal, found)
        _check_line(line, found)
        for name, messages in found.items():
            errors[f"lines[{index}].{name}"] = messages
        built.append(line)
    if errors:
        raise ValidationError(errors)
    before = _state(deal)
    deal.lines.all().delete()
    DealLine.objects.bulk_create(built)
    _after_lines_changed(deal, actor, before, f"set {len(built)} product lines")
    return built


# --------------------------------------------------------------------------- revenue


def sale_of(deal: Deal) -> revenue.Sale:
    lines = tuple(
        revenue.SoldLine(
            product_id=line.product_id,
            description=line.product.name,
            quantity=line.quantity,
            unit_price=line.net_unit_price,
        )
        for line in deal.lines.select_related("product").order_by("position", "id")
    )
    return revenue.Sale(
        deal_id=deal.pk,
        name=deal.name,
        contact_id=deal.contact_id,
        organization_id=deal.organization_id,
        closed_at=deal.closed_at or deal.stage_entered_at,
        currency=deal.currency,
        amount=deal.amount,
        lines=lines,
    )


def record_revenue(deal: Deal, *, actor) -> None:
    """The won deal's order, written or brought up to date (see `rapport.core.revenue`)."""
    revenue.record_sale(sale_of(deal), actor=actor)


def withdraw_revenue(deal: Deal, *, actor, reason: str) -> None:
    """The deal is no longer won: its order goes, audited with `reason`."""
    revenue.withdraw_sale(deal.pk, actor=actor, reason=reason)
