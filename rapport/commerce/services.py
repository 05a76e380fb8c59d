"""Every write to products, orders and shops. The UI, API, imports, webhooks and demo call these.

Each service validates everything before writing anything (a bad line never leaves half an
order), runs in one transaction, writes a ChangeRecord and emits its event after commit.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.commerce import events
from rapport.commerce.choices import STATUS_TRANSITIONS, OrderKind, OrderSource, OrderStatus
from rapport.commerce.models import Order, OrderLine, Product, Shop
from rapport.commerce.rates import company_currency
from rapport.contacts.choices import ContactSource
from rapport.contacts.identity import normalize_email
from rapport.contacts.models import Contact, ContactEmail, ExternalId, Organization
from rapport.core.events import emit

MAX_LINES = 500
MAX_QUANTITY = 1_000_000
MAX_AMOUNT = decimal.Decimal("999999999999.99")
CENT = decimal.Decimal("0.01")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
PRODUCT_FIELDS = ["name", "sku", "category", "price", "currency", "description", "is_active"]
ORDER_AUDIT_FIELDS = [
    "contact",
    "organization",
    "ordered_at",
    "status",
    "currency",
    "total",
    "source",
    "external_system",
    "external_id",
    "note",
    "kind",
    "deal_id",
]


def business_currency() -> str:
    """The company currency (`rates.company_currency`, the one source): what new orders and
    products default to and what every total and analytic is converted into. RAPPORT_CURRENCY
    only answers until an administrator has chosen."""
    return company_currency()


def _actor_id(actor):
    return actor.pk if getattr(actor, "is_authenticated", False) else None


def _actor_or_none(actor):
    return actor if _actor_id(actor) else None


# --------------------------------------------------------------------------- value cleaning


def clean_money(value, errors: dict, name: str, *, required: bool = True) -> decimal.Decimal | None:
    """A non-negative amount with at most two decimals, or an error under `name`."""
    if value is None or value == "":
        if required:
            errors.setdefault(name, []).append("This field is required.")
        return None
    if isinstance(value, bool):
        errors.setdefault(name, []).append("Give an amount, e.g. 19.90.")
        return None
    try:
        amount = decimal.Decimal(str(value).strip())
    except (decimal.InvalidOperation, ValueError):
        errors.setdefault(name, []).append("Give an amount, e.g. 19.90.")
        return None
    if not amount.is_finite():
        errors.setdefault(name, []).append("Give an amount, e.g. 19.90.")
        return None
    if amount < 0:
        errors.setdefault(name, []).append("Must not be negative.")
        return None
    if amount > MAX_AMOUNT:
        errors.setdefault(name, []).append(f"Must be at most {MAX_AMOUNT}.")
        return None
    if amount != amount.quantize(CENT):
        errors.setdefault(name, []).append("Use at most two decimal places.")
        return None
    return amount.quantize(CENT)


def clean_currency(value, errors: dict, name: str = "currency") -> str:
    currency = str(value or "").strip().upper()
    if not _CURRENCY.match(currency):
        errors.setdefault(name, []).append("Use a three-letter ISO 4217 code, e.g. EUR.")
    return currency


def _clean_text(value, errors: dict, name: str, max_length: int, *, required=False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.setdefault(name, []).append("Must be text.")
        return ""
    value = value.strip()
    if "\x00" in value:
        errors.setdefault(name, []).append("Contains a null character.")
    elif required and not value:
        errors.setdefault(name, []).append("This field is required.")
    elif len(value) > max_length:
        errors.setdefault(name, []).append(
            f"Use at most {max_length} characters (it has {len(value)})."
        )
    return value


def clean_ordered_at(value, errors: dict, name: str = "ordered_at") -> dt.datetime | None:
    """An aware datetime not in the future (a date alone means midnight in the site's zone)."""
    if value is None or value == "":
        return timezone.now()
    moment = value
    if isinstance(value, str):
        text = value.strip()
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text) if len(text) == 10 else None
            if day is None:
                errors.setdefault(name, []).append(
                    "Give a date and time in ISO 8601, e.g. 2025-03-01T14:30:00+01:00."
                )
                return None
            moment = dt.datetime.combine(day, dt.time())
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        moment = dt.datetime.combine(value, dt.time())
    if not isinstance(moment, dt.datetime):
        errors.setdefault(name, []).append("Give a date and time.")
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    # A shop's clock may run a little ahead; an order days in the future is a mistake.
    if moment > timezone.now() + dt.timedelta(days=1):
        errors.setdefault(name, []).append("Must not be in the future.")
        return None
    if moment.year < 1970:
        errors.setdefault(name, []).append("Must be after 1970.")
        return None
    return moment


# --------------------------------------------------------------------------- products


def _validate_product(product: Product, errors: dict, *, exclude_pk=None) -> None:
    product.name = _clean_text(product.name, errors, "name", 200, required=True)
    product.sku = _clean_text(product.sku, errors, "sku", 64, required=True)
    product.category = _clean_text(product.category, errors, "category", 100)
    product.description = _clean_text(product.description, errors, "description", 10_000)
    product.currency = clean_currency(product.currency, errors)
    price = clean_money(product.price, errors, "price")
    if price is not None:
        product.price = price
    if not isinstance(product.is_active, bool):
        errors.setdefault("is_active", []).append("Must be true or false.")
    if product.sku and "sku" not in errors:
        clash = Product.objects.with_sku_in([product.sku])
        if exclude_pk is not None:
            clash = clash.exclude(pk=exclude_pk)
        if clash.exists():
            errors.setdefault("sku", []).append("Another product already has this SKU.")


@transaction.atomic
def create_product(
    *,
    actor,
    name: str,
    sku: str,
    price,
    category: str = "",
    currency: str | None = None,
    description: str = "",
    is_active: bool = True,
) -> Product:
    """Add a product to the catalogue. SKUs are unique regardless of case."""
    access.require_write(actor)
    errors: dict[str, list[str]] = {}
    product = Product(
        name=name,
        sku=sku,
        category=category,
        price=price,
        currency=currency or business_currency(),
        description=description,
        is_active=is_active,
    )
    _validate_product(product, errors)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError as exc:
        raise ValidationError({"sku": ["Another product already has this SKU."]}) from exc
    record_change(
        actor=actor,
        action=ChangeAction.CREATE,
        instance=product,
        after=snapshot(product, PRODUCT_FIELDS),
    )
    return product


@transaction.atomic
def update_product(*, actor, product: Product, **changes) -> Product:
    """Change a product's fields. Past order lines keep the price they were sold at."""
    access.require_write(actor)
    unknown = set(changes) - set(PRODUCT_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    product = Product.objects.select_for_update().get(pk=product.pk)
    before = snapshot(product, PRODUCT_FIELDS)
    for name, value in changes.items():
        setattr(product, name, value)
    errors: dict[str, list[str]] = {}
    _validate_product(product, errors, exclude_pk=product.pk)
    if errors:
        raise ValidationError(errors)
    product.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=product,
        before=before,
        after=snapshot(product, PRODUCT_FIELDS),
    )
    return product


# --------------------------------------------------------------------------- orders


@dataclass
class CleanLine:
    product: Product | None
    description: str
    quantity: int
    unit_price: decimal.Decimal

    @property
    def line_total(self) -> decimal.Decimal:
        return (self.unit_price * self.quantity).quantize(CENT)


@dataclass
class CleanOrder:
    """An order that passed validation, ready to write (used by the single and bulk paths)."""

    contact: Contact | None
    organization: Organization | None
    ordered_at: dt.datetime
    status: str
    currency: str
    total: decimal.Decimal
    lines: list[CleanLine] = field(default_factory=list)
    source: str = OrderSource.MANUAL
    shop: Shop | None = None
    external_system: str = ""
    external_id: str = ""
    note: str = ""


def _products_by_key(raw_lines: list) -> tuple[dict[int, Product], dict[str, Product]]:
    """Fetch every product the lines name in two queries (by id and by SKU)."""
    ids, skus = set(), set()
    for item in raw_lines:
        if not isinstance(item, dict):
            continue
        product = item.get("product")
        if isinstance(product, Product):
            continue
        if isinstance(product, int) and not isinstance(product, bool):
            ids.add(product)
        elif item.get("product_id") is not None and isinstance(item.get("product_id"), int):
            ids.add(item["product_id"])
        if isinstance(item.get("sku"), str) and item["sku"].strip():
            skus.add(item["sku"].strip().lower())
    by_id = {p.pk: p for p in Product.objects.filter(pk__in=ids)} if ids else {}
    by_sku = {p.sku.lower(): p for p in Product.objects.with_sku_in(skus)} if skus else {}
    return by_id, by_sku


def clean_lines(raw_lines, errors: dict, *, unknown_sku_ok: bool = False) -> list[CleanLine]:
    """Validate order lines: a product (id, instance or SKU) or a description, quantity, price.

    With `unknown_sku_ok` a SKU that names no product is kept as the line's description (the
    webhook path creates the product first, so this is for imports of foreign catalogues).
    """
    if raw_lines is None:
        return []
    if not isinstance(raw_lines, list):
        errors.setdefault("lines", []).append("Must be a list of lines.")
        return []
    if len(raw_lines) > MAX_LINES:
        errors.setdefault("lines", []).append(f"At most {MAX_LINES} lines per order.")
        return []
    by_id, by_sku = _products_by_key(raw_lines)
    cleaned = []
    for index, item in enumerate(raw_lines):
        prefix = f"lines[{index}]"
        if not isinstance(item, dict):
            errors.setdefault(prefix, []).append("Must be an object.")
            continue
        product = item.get("product")
        product_id = item.get("product_id")
        if isinstance(product, int) and not isinstance(product, bool):
            product_id, product = product, None
        if product is not None and not isinstance(product, Product):
            errors.setdefault(f"{prefix}.product", []).append("Give a product id.")
            continue
        sku = item.get("sku")
        if product is None and product_id is not None:
            if isinstance(product_id, bool) or not isinstance(product_id, int):
                errors.setdefault(f"{prefix}.product_id", []).append("Give a product id.")
                continue
            product = by_id.get(product_id)
            if product is None:
                errors.setdefault(f"{prefix}.product_id", []).append("No product with this id.")
                continue
        if product is None and sku not in (None, ""):
            if not isinstance(sku, str) or len(sku) > 64:
                errors.setdefault(f"{prefix}.sku", []).append(
                    "Give a SKU of at most 64 characters."
                )
                continue
            product = by_sku.get(sku.strip().lower())
            if product is None and not unknown_sku_ok:
                errors.setdefault(f"{prefix}.sku", []).append("No product has this SKU.")
                continue
        description = _clean_text(item.get("description"), errors, f"{prefix}.description", 200)
        if product is None and not description:
            description = sku.strip() if isinstance(sku, str) else ""
        if product is None and not description:
            errors.setdefault(f"{prefix}.product_id", []).append(
                "Name a product (product_id or sku) or describe the line."
            )
            continue
        quantity = item.get("quantity", 1)
        if isinstance(quantity, str) and quantity.strip().isdigit():
            quantity = int(quantity.strip())
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            errors.setdefault(f"{prefix}.quantity", []).append("Give a whole number.")
            continue
        if not 1 <= quantity <= MAX_QUANTITY:
            errors.setdefault(f"{prefix}.quantity", []).append(
                f"Must be between 1 and {MAX_QUANTITY}."
            )
            continue
        raw_price = item.get("unit_price")
        if raw_price in (None, "") and product is not None:
            raw_price = product.price
        unit_price = clean_money(raw_price, errors, f"{prefix}.unit_price")
        if unit_price is None:
            continue
        if unit_price * quantity > MAX_AMOUNT:
            errors.setdefault(f"{prefix}.quantity", []).append("The line total is too large.")
            continue
        cleaned.append(CleanLine(product, description, quantity, unit_price))
    return cleaned


def _clean_order(
    *,
    contact,
    organization,
    ordered_at,
    status,
    currency,
    lines,
    total,
    note,
    external_id,
    errors: dict,
    unknown_sku_ok: bool = False,
    infer_organization: bool = True,
) -> CleanOrder | None:
    if contact is not None and not isinstance(contact, Contact):
        errors.setdefault("contact", []).append("Give a contact.")
        contact = None
    if organization is not None and not isinstance(organization, Organization):
        errors.setdefault("organization", []).append("Give an organization.")
        organization = None
    if contact is None and organization is None and "contact" not in errors:
        errors.setdefault("contact", []).append(
            "An order belongs to a contact, an organization or both."
        )
    moment = clean_ordered_at(ordered_at, errors)
    if status not in OrderStatus.values:
        errors.setdefault("status", []).append(f"Choose one of: {', '.join(OrderStatus.values)}.")
    currency = clean_currency(currency or business_currency(), errors)
    cleaned_lines = clean_lines(lines, errors, unknown_sku_ok=unknown_sku_ok)
    given_total = clean_money(total, errors, "total", required=False)
    note = _clean_text(note, errors, "note", 500)
    external_id = _clean_text(external_id, errors, "external_id", 100)
    if lines:
        line_sum = sum((line.line_total for line in cleaned_lines), decimal.Decimal("0.00"))
        if line_sum > MAX_AMOUNT:
            errors.setdefault("total", []).append("The order total is too large.")
        lines_clean = "lines" not in errors and not any(k.startswith("lines[") for k in errors)
        if given_total is not None and lines_clean and given_total != line_sum:
            errors.setdefault("total", []).append(
                f"Does not equal the sum of the lines ({line_sum})."
            )
        order_total = line_sum
    else:
        if given_total is None and "total" not in errors:
            errors.setdefault("total", []).append("Give the lines or the order total.")
        order_total = given_total
    if errors:
        return None
    if infer_organization and contact is not None and organization is None:
        membership = (
            contact.memberships.filter(is_primary=True).select_related("organization").first()
        )
        organization = membership.organization if membership else None
    return CleanOrder(
        contact=contact,
        organization=organization,
        ordered_at=moment,
        status=status,
        currency=currency,
        total=order_total,
        lines=cleaned_lines,
        note=note,
        external_id=external_id,
    )


def _write_order(clean: CleanOrder) -> Order:
    order = Order(
        contact=clean.contact,
        organization=clean.organization,
        ordered_at=clean.ordered_at,
        status=clean.status,
        currency=clean.currency,
        total=clean.total,
        source=clean.source,
        shop=clean.shop,
        external_system=clean.external_system if clean.external_id else "",
        external_id=clean.external_id,
        note=clean.note,
    )
    order.save()
    OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=order,
                product=line.product,
                description=line.description or (line.product.name if line.product else ""),
                quantity=line.quantity,
                unit_price=line.unit_price,
                line_total=line.line_total,
            )
            for line in clean.lines
        ]
    )
    return order


def order_state(order: Order) -> dict:
    """The order and its lines as the audit trail keeps them."""
    state = snapshot(order, ORDER_AUDIT_FIELDS)
    state["lines"] = [
        {
            "product": line.product_id,
            "description": line.description,
            "quantity": line.quantity,
            "unit_price": str(line.unit_price),
        }
        for line in order.lines.all()
    ]
    return state


def _require_customers(actor, *customers) -> None:
    """An order is written on its customers' records: the actor must be able to change them."""
    access.require(actor, Action.CREATE, Order)
    for customer in customers:
        if isinstance(customer, (Contact, Organization)):
            access.require(actor, Action.CHANGE, customer)


@transaction.atomic
def place_order(
    *,
    actor,
    contact: Contact | None = None,
    organization: Organization | None = None,
    ordered_at=None,
    status: str = OrderStatus.PAID,
    currency: str | None = None,
    lines: list | None = None,
    total=None,
    note: str = "",
    source: str = OrderSource.MANUAL,
    external_system: str = "",
    external_id: str = "",
    shop: Shop | None = None,
) -> Order:
    """Record an order with its lines for a contact and/or an organization.

    The total is the sum of the lines (a given `total` must match it); without lines the total
    is required. A contact without an organization gets their primary organization on the
    order. With an `external_id` already used in `external_system`, raises a ValidationError
    on `external_id` (use `import_order` for the idempotent path). Sets off OrderPlaced.
    """
    _require_customers(actor, contact, organization)
    errors: dict[str, list[str]] = {}
    if source not in OrderSource.values:
        errors["source"] = [f"Choose one of: {', '.join(OrderSource.values)}."]
    external_system = _clean_text(external_system, errors, "external_system", 60)
    clean = _clean_order(
        contact=contact,
        organization=organization,
        ordered_at=ordered_at,
        status=status,
        currency=currency,
        lines=lines,
        total=total,
        note=note,
        external_id=external_id,
        errors=errors,
    )
    if clean is not None and clean.external_id:
        system = external_system or source
        if Order.objects.filter(external_system=system, external_id=clean.external_id).exists():
            errors.setdefault("external_id", []).append(
                "An order with this external id already exists."
            )
    if errors:
        raise ValidationError(errors)
    clean.source = source
    clean.shop = shop
    clean.external_system = external_system or source
    try:
        with transaction.atomic():
            order = _write_order(clean)
    except IntegrityError as exc:
        raise ValidationError(
            {"external_id": ["An order with this external id already exists."]}
        ) from exc
    _after_create(order, actor)
    return order


def _after_create(order: Order, actor) -> None:
    record_change(actor=actor, action=ChangeAction.CREATE, instance=order, after=order_state(order))
    emit(
        events.OrderPlaced(
            order_id=order.pk,
            contact_id=order.contact_id,
            organization_id=order.organization_id,
            status=order.status,
            currency=order.currency,
            total=str(order.total),
            source=order.source,
            actor_id=_actor_id(actor),
        )
    )


@transaction.atomic
def set_order_status(*, actor, order: Order, status: str) -> Order:
    """Move an order along placed → paid → shipped, or to cancelled / refunded.

    Final states (cancelled, refunded) never change again. Setting the current status is a
    no-op. Sets off OrderStatusChanged.
    """
    access.require(actor, Action.CHANGE, order)
    order = Order.objects.select_for_update().get(pk=order.pk)
    if status not in OrderStatus.values:
        raise ValidationError({"status": [f"Choose one of: {', '.join(OrderStatus.values)}."]})
    if status == order.status:
        return order
    if order.kind == OrderKind.DEAL and status != OrderStatus.REFUNDED:
        # Its other states follow the deal (won: paid; reopened or lost: gone).
        raise ValidationError(
            {"status": ["This order records a won deal: it can only be refunded here."]}
        )
    allowed = STATUS_TRANSITIONS[OrderStatus(order.status)]
    if status not in allowed:
        names = ", ".join(sorted(allowed)) or "nothing (it is final)"
        raise ValidationError({"status": [f"A {order.status} order can only become: {names}."]})
    before = order.status
    order.status = status
    order.save(update_fields=["status", "updated_at"])
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=order,
        before={"status": before},
        after={"status": status},
    )
    emit(
        events.OrderStatusChanged(
            order_id=order.pk,
            contact_id=order.contact_id,
            from_status=before,
            to_status=status,
            actor_id=_actor_id(actor),
        )
    )
    return order


def _refuse_deal_order(order: Order) -> None:
    # A won deal's order follows the deal: an edit here would be overwritten by the next change
    # of the deal, and a deletion would leave a won deal without its revenue.
    if order.kind == OrderKind.DEAL:
        raise ValidationError(
            {"kind": ["This order records a won deal: change, reopen or lose the deal instead."]}
        )


ORDER_EDITABLE = {"contact", "organization", "ordered_at", "currency", "lines", "total", "note"}


@transaction.atomic
def update_order(*, actor, order: Order, **changes) -> Order:
    """Correct an order's customer, date, currency, lines or note; `status` goes through
    `set_order_status` (so its rules hold). Lines given replace the old ones, and the total is
    checked against them again. Sets off OrderStatusChanged when the status changes."""
    access.require(actor, Action.CHANGE, order)
    _require_customers(actor, changes.get("contact"), changes.get("organization"))
    _refuse_deal_order(order)
    status = changes.pop("status", None)
    unknown = set(changes) - ORDER_EDITABLE
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    order = Order.objects.select_for_update().get(pk=order.pk)
    before = order_state(order)
    if changes:
        current_lines = [
            {
                "product": line.product,
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
            }
            for line in order.lines.select_related("product")
        ]
        lines = changes.get("lines", current_lines if current_lines else None)
        total = changes.get("total")
        if "lines" not in changes and "total" not in changes:
            total = order.total
        if "lines" in changes and "total" not in changes:
            total = None
        errors: dict[str, list[str]] = {}
        clean = _clean_order(
            contact=changes.get("contact", order.contact),
            organization=changes.get("organization", order.organization),
            ordered_at=changes.get("ordered_at", order.ordered_at),
            status=order.status,
            currency=changes.get("currency", order.currency),
            lines=lines or None,
            total=total,
            note=changes.get("note", order.note),
            external_id=order.external_id,
            errors=errors,
        )
        if errors:
            raise ValidationError(errors)
        order.contact = clean.contact
        order.organization = clean.organization
        order.ordered_at = clean.ordered_at
        order.currency = clean.currency
        order.total = clean.total
        order.note = clean.note
        order.save()
        if "lines" in changes:
            order.lines.all().delete()
            OrderLine.objects.bulk_create(
                [
                    OrderLine(
                        order=order,
                        product=line.product,
                        description=line.description or (line.product.name if line.product else ""),
                        quantity=line.quantity,
                        unit_price=line.unit_price,
                        line_total=line.line_total,
                    )
                    for line in clean.lines
                ]
            )
        record_change(
            actor=actor,
            action=ChangeAction.UPDATE,
            instance=order,
            before=before,
            after=order_state(order),
        )
    if status is not None:
        order = set_order_status(actor=actor, order=order, status=status)
    return order


@transaction.atomic
def delete_order(*, actor, order: Order) -> None:
    """Remove an order entered by mistake; the audit record keeps what it said. Sets off
    OrderDeleted. (A real cancellation is a status, not a deletion.)"""
    access.require(actor, Action.DELETE, order)
    _refuse_deal_order(order)
    before = order_state(order)
    record_change(actor=actor, action=ChangeAction.DELETE, instance=order, before=before)
    order_id, contact_id = order.pk, order.contact_id
    order.delete()
    emit(events.OrderDeleted(order_id=order_id, contact_id=contact_id, actor_id=_actor_id(actor)))


def move_orders(*, loser, survivor, actor) -> int:
    """Merge relation: the surviving contact or organization keeps the loser's orders."""
    if isinstance(survivor, Contact):
        moved = Order.objects.filter(contact=loser).update(contact=survivor)
    else:
        moved = Order.objects.filter(organization=loser).update(organization=survivor)
    if moved:
        record_change(
            actor=actor,
            action=ChangeAction.MERGE,
            entity=survivor._meta.label_lower,
            object_id=survivor.pk,
            object_repr=str(survivor),
            after={"orders_moved_from": loser.pk, "count": moved},
            message=f"{moved} orders moved from #{loser.pk}",
        )
    return moved


# --------------------------------------------------------------------------- bulk writes


@transaction.atomic
def record_orders_in_bulk(*, actor, orders: Iterable[CleanOrder], source: str) -> int:
    """Write many already-validated orders at once (demo data, large imports).

    One ChangeRecord for the batch instead of one per order, and one OrdersImported event.
    Callers build each CleanOrder through `validate_order(...)`, so the same rules hold.
    """
    orders = list(orders)
    if actor is not None:
        for clean in orders:
            _require_customers(actor, clean.contact, clean.organization)
    rows = [
        Order(
            contact=clean.contact,
            organization=clean.organization,
            ordered_at=clean.ordered_at,
            status=clean.status,
            currency=clean.currency,
            total=clean.total,
            source=source,
            shop=clean.shop,
            external_system=clean.external_system if clean.external_id else "",
            external_id=clean.external_id,
            note=clean.note,
        )
        for clean in orders
    ]
    Order.objects.bulk_create(rows, batch_size=1000)
    if any(row.pk is None for row in rows):
        # Backends without RETURNING on bulk insert: read the ids back in insertion order.
        raise RuntimeError("bulk_create did not return primary keys")
    OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=row,
                product=line.product,
                description=line.description or (line.product.name if line.product else ""),
                quantity=line.quantity,
                unit_price=line.unit_price,
                line_total=line.line_total,
            )
            for row, clean in zip(rows, orders, strict=True)
            for line in clean.lines
        ],
        batch_size=2000,
    )
    if rows:
        record_change(
            actor=actor,
            action=ChangeAction.CREATE,
            entity="commerce.order",
            object_id=f"{rows[0].pk}-{rows[-1].pk}",
            object_repr=f"{len(rows)} orders",
            after={"count": len(rows), "source": source},
            message=f"{len(rows)} orders recorded in bulk ({source})",
        )
        emit(events.OrdersImported(count=len(rows), source=source, actor_id=_actor_id(actor)))
    return len(rows)


def validate_order(
    *,
    contact=None,
    organization=None,
    ordered_at=None,
    status: str = OrderStatus.PAID,
    currency: str | None = None,
    lines: list | None = None,
    total=None,
    note: str = "",
    external_id: str = "",
    external_system: str = "",
    infer_organization: bool = True,
) -> CleanOrder:
    """Check one order without writing it; raises ValidationError keyed by field path.

    With `infer_organization` False the caller has already decided the organization (bulk
    callers look memberships up once instead of once per order)."""
    errors: dict[str, list[str]] = {}
    clean = _clean_order(
        contact=contact,
        organization=organization,
        ordered_at=ordered_at,
        status=status,
        currency=currency,
        lines=lines,
        total=total,
        note=note,
        external_id=external_id,
        errors=errors,
        infer_organization=infer_organization,
    )
    if errors:
        raise ValidationError(errors)
    clean.external_system = external_system
    return clean


# --------------------------------------------------------------------------- imports


def find_customer(*, email: str = "", external_system: str = "", external_id: str = ""):
    """The contact an incoming order names: by external id in that system, else by email."""
    if external_system and external_id:
        found = (
            ExternalId.objects.filter(system=external_system, value=external_id)
            .select_related("contact")
            .first()
        )
        if found is not None:
            return found.contact
    if email:
        match = ContactEmail.objects.filter(email=email).select_related("contact").first()
        if match is not None:
            return match.contact
    return None


IMPORT_COLUMNS = {
    "order_id": "The order's id in the file's system (makes re-runs idempotent). Required.",
    "contact_id": "Rapport contact id; or give email.",
    "email": "Customer email, matched against contacts' emails.",
    "organization_id": "Rapport organization id (optional).",
    "ordered_at": "Date or date-time (ISO 8601).",
    "status": "placed, paid, shipped, cancelled or refunded (default paid).",
    "currency": "ISO 4217 code (default the business currency).",
    "total": "Order total; required when the row has no line columns.",
    "sku": "Product SKU of the line (optional).",
    "quantity": "Line quantity (default 1).",
    "unit_price": "Line unit price (default the product's price).",
}


def group_order_rows(rows: Iterable[dict]) -> list[dict]:
    """Collapse line-per-row CSV rows into one dict per order (rows sharing an order_id).

    Pure (no database): the importer calls it before `import_order`, so a file with one row per
    line and a file with one row per order both work. Keeps each order's first row number in
    `_row` for the error report.
    """
    grouped: dict[str, dict] = {}
    ordered: list[dict] = []
    for number, row in enumerate(rows, start=1):
        key = str(row.get("order_id") or "").strip()
        line = None
        if str(row.get("sku") or "").strip():
            line = {
                "sku": str(row.get("sku")).strip(),
                "quantity": row.get("quantity") or 1,
                "unit_price": row.get("unit_price") or None,
            }
        if key and key in grouped:
            if line is not None:
                grouped[key]["lines"].append(line)
            continue
        order = {k: v for k, v in row.items() if k not in {"sku", "quantity", "unit_price"}}
        order["_row"] = number
        order["lines"] = [line] if line is not None else []
        ordered.append(order)
        if key:
            grouped[key] = order
    return ordered


@transaction.atomic
def import_order(*, actor, data: dict, external_system: str = "import") -> tuple[Order, bool]:
    """Record one order from an import row (see IMPORT_COLUMNS and `group_order_rows`).

    Idempotent by (external_system, order_id): importing the same file again returns the
    orders already there and writes nothing. Returns (order, created). Raises ValidationError
    keyed by column name for the importer's per-row report.
    """
    errors: dict[str, list[str]] = {}
    external_id = str(data.get("order_id") or "").strip()
    if not external_id:
        errors["order_id"] = ["Give the order's id, so a re-run does not import it twice."]
    elif len(external_id) > 100:
        errors["order_id"] = ["Use at most 100 characters."]
    if errors:
        raise ValidationError(errors)
    existing = Order.objects.filter(external_system=external_system, external_id=external_id)
    found = existing.first()
    if found is not None:
        return found, False
    contact = None
    contact_id = data.get("contact_id")
    if contact_id not in (None, ""):
        try:
            contact = Contact.objects.get(pk=int(str(contact_id).strip()))
        except (ValueError, Contact.DoesNotExist):
            errors["contact_id"] = ["No contact with this id."]
        else:
            # A contact the importer may not write is reported as missing: nothing about it leaks.
            if not access.can(actor, Action.CHANGE, contact):
                contact = None
                errors["contact_id"] = ["No contact with this id."]
    elif str(data.get("email") or "").strip():
        try:
            email = normalize_email(str(data["email"]))
        except ValidationError as exc:
            errors["email"] = exc.messages
        else:
            contact = find_customer(email=email)
            if contact is not None and not access.can(actor, Action.CHANGE, contact):
                contact = None
            if contact is None:
                errors["email"] = ["No contact has this email; import the contacts first."]
    organization = None
    organization_id = data.get("organization_id")
    if organization_id not in (None, ""):
        try:
            organization = Organization.objects.get(pk=int(str(organization_id).strip()))
        except (ValueError, Organization.DoesNotExist):
            errors["organization_id"] = ["No organization with this id."]
        else:
            if not access.can(actor, Action.CHANGE, organization):
                organization = None
                errors["organization_id"] = ["No organization with this id."]
    if contact is None and organization is None and not errors:
        errors["contact_id"] = ["Give a contact_id, an email or an organization_id."]
    if errors:
        raise ValidationError(errors)
    order = place_order(
        actor=actor,
        contact=contact,
        organization=organization,
        ordered_at=data.get("ordered_at") or None,
        status=str(data.get("status") or OrderStatus.PAID).strip().lower(),
        currency=str(data.get("currency") or "").strip() or None,
        lines=data.get("lines") or None,
        total=data.get("total") if data.get("total") not in ("", None) else None,
        note=str(data.get("note") or ""),
        source=OrderSource.IMPORT,
        external_system=external_system,
        external_id=external_id,
    )
    return order, True


# --------------------------------------------------------------------------- shops & webhook


def new_shop_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


@transaction.atomic
def create_shop(
    *, actor, name: str, key: str, default_currency: str | None = None, default_owner=None
) -> Shop:
    """Register an e-commerce system; its secret is generated here and shown to the admin."""
    access.require_admin(actor)
    errors: dict[str, list[str]] = {}
    name = _clean_text(name, errors, "name", 100, required=True)
    key = _clean_text(key, errors, "key", 50, required=True).lower()
    if key and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,49}", key):
        errors.setdefault("key", []).append("Use lowercase letters, digits and hyphens.")
    elif key and Shop.objects.filter(key=key).exists():
        errors.setdefault("key", []).append("Another shop already has this key.")
    currency = clean_currency(default_currency or business_currency(), errors, "default_currency")
    if errors:
        raise ValidationError(errors)
    shop = Shop.objects.create(
        name=name,
        key=key,
        secret=new_shop_secret(),
        default_currency=currency,
        default_owner=default_owner,
    )
    record_change(
        actor=actor,
        action=ChangeAction.CREATE,
        instance=shop,
        after=snapshot(shop, ["name", "key", "default_currency", "default_owner", "is_active"]),
    )
    return shop


@transaction.atomic
def rotate_shop_secret(*, actor, shop: Shop) -> Shop:
    """Give the shop a new secret; deliveries signed with the old one fail from now on."""
    access.require_admin(actor)
    shop.secret = new_shop_secret()
    shop.save(update_fields=["secret", "updated_at"])
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=shop,
        before={"secret": "(previous)"},
        after={"secret": "(rotated)"},
    )
    return shop


@transaction.atomic
def set_shop_active(*, actor, shop: Shop, is_active: bool) -> Shop:
    """Switch a shop's webhook on or off; an inactive shop's deliveries are refused."""
    access.require_admin(actor)
    before = {"is_active": shop.is_active}
    shop.is_active = bool(is_active)
    shop.save(update_fields=["is_active", "updated_at"])
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=shop,
        before=before,
        after={"is_active": shop.is_active},
    )
    return shop


def _webhook_customer(shop: Shop, customer, errors: dict) -> Contact | None:
    if not isinstance(customer, dict):
        errors.setdefault("order.customer", []).append("Must be an object.")
        return None
    customer_id = customer.get("id")
    customer_id = "" if customer_id is None else str(customer_id).strip()
    if len(customer_id) > 200:
        errors.setdefault("order.customer.id", []).append("Use at most 200 characters.")
        return None
    email = ""
    if customer.get("email"):
        try:
            email = normalize_email(customer["email"])
        except ValidationError as exc:
            errors.setdefault("order.customer.email", []).extend(exc.messages)
            return None
    if not customer_id and not email:
        errors.setdefault("order.customer", []).append("Give the customer's id or email.")
        return None
    contact = find_customer(
        email=email, external_system=shop.external_system, external_id=customer_id
    )
    if contact is not None:
        if customer_id:
            from rapport.contacts.services import link_external_id

            link_external_id(
                actor=None, contact=contact, system=shop.external_system, value=customer_id
            )
        return contact
    from rapport.contacts.services import create_contact

    first_name = customer.get("first_name") or ""
    last_name = customer.get("last_name") or ""
    try:
        return create_contact(
            actor=None,
            first_name=first_name if isinstance(first_name, str) else "",
            last_name=last_name if isinstance(last_name, str) else "",
            emails=[email] if email else None,
            owner=shop.default_owner,
            lifecycle_stage="customer",
            source=ContactSource.API,
            source_detail=f"Shop: {shop.name}"[:200],
            external_ids=[{"system": shop.external_system, "value": customer_id}]
            if customer_id
            else None,
        )
    except ValidationError as exc:
        if customer_id and any(key.startswith("external_ids") for key in exc.message_dict):
            # A concurrent delivery created this customer since our look-up (its check or the
            # unique constraint turned us away): theirs is the contact, as in get-or-create.
            found = find_customer(external_system=shop.external_system, external_id=customer_id)
            if found is not None:
                return found
        for key, messages in exc.message_dict.items():
            errors.setdefault(f"order.customer.{key}", []).extend(messages)
        return None


def _webhook_lines(shop: Shop, raw_lines, currency: str, errors: dict) -> list | None:
    """Shop lines by SKU; a SKU the catalogue lacks becomes a product (the shop owns it)."""
    if raw_lines is None:
        return None
    if not isinstance(raw_lines, list):
        errors.setdefault("order.lines", []).append("Must be a list of lines.")
        return None
    lines = []
    for index, item in enumerate(raw_lines[: MAX_LINES + 1]):
        if not isinstance(item, dict):
            errors.setdefault(f"order.lines[{index}]", []).append("Must be an object.")
            continue
        sku = item.get("sku")
        line = {
            "quantity": item.get("quantity", 1),
            "unit_price": item.get("unit_price"),
            "description": item.get("name") if isinstance(item.get("name"), str) else "",
        }
        if isinstance(sku, str) and sku.strip() and len(sku.strip()) <= 64:
            product = Product.objects.with_sku_in([sku.strip()]).first()
            if product is None:
                line_errors: dict[str, list[str]] = {}
                price = clean_money(item.get("unit_price"), line_errors, "price")
                name = line["description"] or sku.strip()
                if price is not None:
                    try:
                        product = create_product(
                            actor=None,
                            name=name[:200],
                            sku=sku.strip(),
                            price=price,
                            currency=currency,
                            category=str(item.get("category") or "")[:100],
                        )
                    except ValidationError as exc:
                        for key, messages in exc.message_dict.items():
                            errors.setdefault(f"order.lines[{index}].{key}", []).extend(messages)
                        continue
            if product is not None:
                line["product"] = product
        elif sku not in (None, ""):
            errors.setdefault(f"order.lines[{index}].sku", []).append(
                "Give a SKU of at most 64 characters."
            )
            continue
        lines.append(line)
    return lines


def record_shop_order(*, shop: Shop, payload) -> tuple[Order, bool]:
    """Record (or update the status of) the order a shop's webhook delivered.

    Idempotent by the shop's order id: a retried or replayed delivery returns the order already
    recorded and never adds revenue twice. A later delivery may move the status forward
    (paid → shipped → refunded); a stale status that the rules do not allow is ignored.
    Unknown customers become contacts (matched by the shop's customer id, then email); unknown
    SKUs become products. Returns (order, created). Payload:

        {"event": "order.created" | "order.updated",
         "order": {"id", "created_at", "status", "currency", "total",
                   "customer": {"id", "email", "first_name", "last_name"},
                   "lines": [{"sku", "name", "category", "quantity", "unit_price"}]}}
    """
    errors: dict[str, list[str]] = {}
    if not isinstance(payload, dict):
        raise ValidationError({"body": ["Must be a JSON object."]})
    data = payload.get("order")
    if not isinstance(data, dict):
        raise ValidationError({"order": ["Must be an object."]})
    external_id = data.get("id")
    external_id = "" if external_id is None or isinstance(external_id, bool) else str(external_id)
    external_id = external_id.strip()
    if not external_id or len(external_id) > 100:
        raise ValidationError({"order.id": ["Give the shop's order id (at most 100 characters)."]})
    status = str(data.get("status") or OrderStatus.PAID).strip().lower()
    if status not in OrderStatus.values:
        raise ValidationError(
            {"order.status": [f"Choose one of: {', '.join(OrderStatus.values)}."]}
        )
    with transaction.atomic():
        Shop.objects.filter(pk=shop.pk).update(last_delivery_at=timezone.now())
        existing = (
            Order.objects.select_for_update()
            .filter(external_system=shop.external_system, external_id=external_id)
            .first()
        )
        if existing is not None:
            return _apply_shop_status(existing, status), False
        currency = clean_currency(
            data.get("currency") or shop.default_currency, errors, "order.currency"
        )
        contact = _webhook_customer(shop, data.get("customer"), errors)
        lines = _webhook_lines(shop, data.get("lines"), currency, errors)
        if errors:
            raise ValidationError(errors)
        order_errors: dict[str, list[str]] = {}
        clean = _clean_order(
            contact=contact,
            organization=None,
            ordered_at=data.get("created_at"),
            status=status,
            currency=currency,
            lines=lines or None,
            total=data.get("total"),
            note="",
            external_id=external_id,
            errors=order_errors,
        )
        if order_errors:
            raise ValidationError({f"order.{key}": value for key, value in order_errors.items()})
        clean.source = OrderSource.WEBHOOK
        clean.shop = shop
        clean.external_system = shop.external_system
        try:
            with transaction.atomic():
                order = _write_order(clean)
        except IntegrityError:
            # A concurrent delivery of the same order won the race: that one counts.
            order = Order.objects.get(external_system=shop.external_system, external_id=external_id)
            return order, False
        _after_create(order, None)
        return order, True


def _apply_shop_status(order: Order, status: str) -> Order:
    if status == order.status:
        return order
    if status not in STATUS_TRANSITIONS[OrderStatus(order.status)]:
        return order
    return set_order_status(actor=None, order=order, status=status)
