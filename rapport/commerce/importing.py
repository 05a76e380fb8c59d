"""Importing orders: one line of an order per row; the rows that share an order id are one order.

The import engine (data_exchange) runs this importer like its own; it is registered from
CommerceConfig.ready() through the contract in `core.importing`.

An order is known by its id in the file's system (`external_id_system`, "import" by default):
importing the same file again finds every order already there and writes nothing, so a rerun
never counts revenue twice. The customer is named by a Rapport contact id, the customer's id in
that same system (the external id a contacts import gave them), or their email. Orders go
through `commerce.services`, which validate, audit and announce them as the screens do.

Rows of one order may fall into different batches (a long order, or a file not sorted by order
id): a later batch adds its lines to the order an earlier batch of the same import created.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.audit.models import ChangeAction
from rapport.audit.querysets import changed_since as audit_changed_since
from rapport.audit.services import record_change
from rapport.commerce import services as commerce
from rapport.commerce.choices import STATUS_TRANSITIONS, OrderSource, OrderStatus
from rapport.commerce.models import Order
from rapport.contacts.identity import normalize_email
from rapport.contacts.models import Contact, ContactEmail, ExternalId, Organization
from rapport.core.importing import (
    DEFAULT_SYSTEM,
    Importer,
    ImportPolicy,
    RowAction,
    RowResult,
    SourceRow,
    Target,
    created_ids,
)

ORDER = "order"

ORDER_TARGETS = (
    Target(
        "order_id",
        "Order id",
        ("order", "order number", "order no", "order ref", "order reference", "invoice number"),
        commerce.IMPORT_COLUMNS["order_id"],
    ),
    Target(
        "ordered_at",
        "Order date",
        ("date", "order date", "created at", "purchase date", "ordered", "placed at"),
        commerce.IMPORT_COLUMNS["ordered_at"],
    ),
    Target(
        "email",
        "Customer email",
        ("customer email", "email address", "e mail", "buyer email", "billing email"),
        commerce.IMPORT_COLUMNS["email"],
    ),
    Target(
        "customer_id",
        "Customer id",
        ("customer", "customer external id", "client id", "customer number", "account id"),
        "The customer's id in the file's system, as a contacts import recorded it.",
    ),
    Target("contact_id", "Rapport contact id", (), commerce.IMPORT_COLUMNS["contact_id"]),
    Target(
        "organization_id",
        "Rapport organization id",
        (),
        commerce.IMPORT_COLUMNS["organization_id"],
    ),
    Target(
        "status",
        "Status",
        ("order status", "financial status", "state"),
        commerce.IMPORT_COLUMNS["status"],
    ),
    Target("currency", "Currency", ("currency code",), commerce.IMPORT_COLUMNS["currency"]),
    Target(
        "total",
        "Order total",
        ("amount", "grand total", "total price", "order amount", "order value"),
        commerce.IMPORT_COLUMNS["total"],
    ),
    Target(
        "sku",
        "Product SKU",
        ("lineitem sku", "product sku", "item sku", "product code", "item code"),
        commerce.IMPORT_COLUMNS["sku"],
    ),
    Target(
        "quantity",
        "Quantity",
        ("qty", "lineitem quantity", "units"),
        commerce.IMPORT_COLUMNS["quantity"],
    ),
    Target(
        "unit_price",
        "Unit price",
        ("price", "lineitem price", "item price"),
        commerce.IMPORT_COLUMNS["unit_price"],
    ),
    Target(
        "description",
        "Line description",
        ("product", "product name", "item", "item name", "lineitem name"),
        "What was sold, for a line without a SKU.",
    ),
    Target("note", "Note", ("notes", "comment"), "A note on the order."),
)

# Order-level columns: read from an order's first row (later rows usually repeat them).
ORDER_FIELDS = ("ordered_at", "status", "currency", "total", "note")
LINE_FIELDS = ("sku", "description", "quantity", "unit_price")

# Statuses as other systems spell them → Rapport's.
STATUS_NAMES = {
    "canceled": OrderStatus.CANCELLED,
    "pending": OrderStatus.PLACED,
    "open": OrderStatus.PLACED,
    "fulfilled": OrderStatus.SHIPPED,
    "partially_refunded": OrderStatus.PAID,
}

_LINE_KEY = re.compile(r"^lines\[(\d+)\](?:\.(\w+))?$")


@dataclass
class OrderRun:
    job: object
    actor: object
    policy: str
    system: str
    # Dry run: order id → number of the row that would create it (nothing is written to find).
    would_create: dict = field(default_factory=dict)


@dataclass
class OrderGroup:
    """The rows of one order id within a batch, in file order."""

    order_id: str
    rows: list[SourceRow]
    results: list[RowResult]

    @property
    def first(self) -> SourceRow:
        return self.rows[0]

    def line_rows(self) -> list[SourceRow]:
        return [row for row in self.rows if row.values.get("sku") or row.values.get("description")]

    def lines(self) -> list[dict]:
        return [
            {
                "sku": row.values.get("sku", ""),
                "description": row.values.get("description", ""),
                "quantity": row.values.get("quantity") or 1,
                "unit_price": row.values.get("unit_price") or None,
            }
            for row in self.line_rows()
        ]


class OrderImporter(Importer):
    entity = ORDER
    label = "Orders"
    targets = ORDER_TARGETS
    option_names = ("external_id_system",)
    looked_up_models = (Order, ExternalId, ContactEmail)

    def begin(self, job) -> OrderRun:
        options = job.options or {}
        return OrderRun(
            job=job,
            actor=job.created_by,
            policy=job.policy,
            system=(options.get("external_id_system") or DEFAULT_SYSTEM)[:60],
        )

    def process_batch(self, rows: list[SourceRow], run: OrderRun, *, dry_run: bool):
        results: list[RowResult] = []
        groups: dict[str, OrderGroup] = {}
        for row in rows:
            result = RowResult(
                number=row.number,
                action=RowAction.CREATED,
                entity=ORDER,
                fingerprint=row.fingerprint,
            )
            results.append(result)
            order_id = row.values.get("order_id", "")
            if not order_id:
                _fail(
                    result, "order_id", "Give the order's id, so a re-run does not import it twice."
                )
                continue
            if len(order_id) > 100:
                _fail(result, "order_id", "Use at most 100 characters.")
                continue
            group = groups.setdefault(order_id, OrderGroup(order_id, [], []))
            group.rows.append(row)
            group.results.append(result)
        if not groups:
            return results
        existing = {
            order.external_id: order
            for order in Order.objects.filter(
                external_system=run.system, external_id__in=list(groups)
            )
        }
        # Orders an earlier batch of this very import created (also before a crash it resumes
        # from): the job's own row history says which.
        ours = set(
            run.job.rows.filter(
                entity=ORDER,
                action=RowAction.CREATED,
                object_id__in=[order.pk for order in existing.values()],
            ).values_list("object_id", flat=True)
        )
        customers = self._customers(groups.values(), run)
        for group in groups.values():
            order = existing.get(group.order_id)
            if order is not None and order.pk in ours:
                self._add_lines(group, order, run, dry_run=dry_run)
            elif order is not None:
                self._match_existing(group, order, run, dry_run=dry_run)
            elif dry_run and group.order_id in run.would_create:
                # Rows of an order an earlier batch of this dry run would create: a real run
                # adds their lines to it.
                self._check_lines(group)
            else:
                self._create(group, customers, run, dry_run=dry_run)
        return results

    # --- finding customers ---------------------------------------------------------------------

    def _customers(self, groups, run: OrderRun) -> dict[tuple[str, str], object]:
        """(column, value) → Contact or Organization for every customer the batch names, in a
        query per column; a value that names nobody is absent."""
        wanted: dict[str, set] = {
            "contact_id": set(),
            "organization_id": set(),
            "customer_id": set(),
        }
        emails: dict[str, str] = {}
        for group in groups:
            values = group.first.values
            for name in ("contact_id", "organization_id"):
                if values.get(name, "").isdigit():
                    wanted[name].add(int(values[name]))
            if values.get("customer_id"):
                wanted["customer_id"].add(values["customer_id"])
            if values.get("email"):
                # A malformed email is reported with the order (`_customer`), not here.
                with contextlib.suppress(ValidationError):
                    emails[values["email"]] = normalize_email(values["email"])
        found: dict[tuple[str, str], object] = {}
        for contact in Contact.objects.filter(pk__in=wanted["contact_id"]):
            found["contact_id", str(contact.pk)] = contact
        for organization in Organization.objects.filter(pk__in=wanted["organization_id"]):
            found["organization_id", str(organization.pk)] = organization
        for external in (
            ExternalId.objects.filter(system=run.system, value__in=wanted["customer_id"])
            .select_related("contact")
            .order_by("contact_id")
        ):
            found.setdefault(("customer_id", external.value), external.contact)
        by_email = {}
        for address in (
            ContactEmail.objects.filter(email__in=set(emails.values()))
            .select_related("contact")
            .order_by("contact_id")
        ):
            by_email.setdefault(address.email, address.contact)
        for raw, email in emails.items():
            if email in by_email:
                found["email", raw] = by_email[email]
        # Only customers the importing user may write: any other is reported as not found, so
        # an import neither writes on nor reveals records outside the user's access.
        return {
            key: customer
            for key, customer in found.items()
            if access.can(run.actor, Action.CHANGE, customer)
        }

    def _customer(self, group: OrderGroup, customers: dict) -> tuple[object, object, list[dict]]:
        """(contact, organization, errors) of an order, from its first row."""
        values = group.first.values
        contact = organization = None
        errors = []
        if values.get("contact_id"):
            contact = customers.get(("contact_id", values["contact_id"]))
            if contact is None:
                errors.append({"field": "contact_id", "message": "No contact with this id."})
        elif values.get("customer_id"):
            contact = customers.get(("customer_id", values["customer_id"]))
            if contact is None and values.get("email"):
                contact = customers.get(("email", values["email"]))
            if contact is None:
                errors.append(
                    {
                        "field": "customer_id",
                        "message": "No contact has this id in this system; import the "
                        "contacts first.",
                    }
                )
        elif values.get("email"):
            try:
                normalize_email(values["email"])
            except ValidationError as exc:
                errors.append({"field": "email", "message": exc.messages[0]})
            else:
                contact = customers.get(("email", values["email"]))
                if contact is None:
                    errors.append(
                        {
                            "field": "email",
                            "message": "No contact has this email; import the contacts first.",
                        }
                    )
        if values.get("organization_id"):
            organization = customers.get(("organization_id", values["organization_id"]))
            if organization is None:
                errors.append(
                    {"field": "organization_id", "message": "No organization with this id."}
                )
        if contact is None and organization is None and not errors:
            errors.append(
                {
                    "field": "email",
                    "message": "Name the customer: an email, a customer id or a contact id.",
                }
            )
        return contact, organization, errors

    # --- new orders ----------------------------------------------------------------------------

    def _create(self, group: OrderGroup, customers: dict, run: OrderRun, *, dry_run: bool):
        contact, organization, errors = self._customer(group, customers)
        if errors:
            self._report(group, errors)
            return
        values = group.first.values
        order_fields = {
            "contact": contact,
            "organization": organization,
            "ordered_at": values.get("ordered_at") or None,
            "status": _status(values.get("status", "")),
            "currency": values.get("currency", "").upper() or None,
            "lines": group.lines() or None,
            "total": values.get("total") or None,
            "note": values.get("note", ""),
            "external_id": group.order_id,
        }
        try:
            if dry_run:
                clean = commerce.validate_order(**order_fields, external_system=run.system)
                run.would_create[group.order_id] = group.first.number
                total, pk = clean.total, None
            else:
                with transaction.atomic():
                    order = commerce.place_order(
                        actor=run.actor,
                        source=OrderSource.IMPORT,
                        external_system=run.system,
                        **order_fields,
                    )
                total, pk = order.total, order.pk
        except ValidationError as exc:
            self._report(group, _errors_of(exc, group))
            return
        for index, result in enumerate(group.results):
            result.object_id = pk
            result.after = (
                {"order_id": group.order_id, "total": str(total), "lines": len(group.line_rows())}
                if index == 0
                else {"order_id": group.order_id, "same_as_row": group.first.number}
            )

    def _add_lines(self, group: OrderGroup, order: Order, run: OrderRun, *, dry_run: bool):
        """Rows of an order this import created in an earlier batch: their lines join it."""
        if not group.line_rows():
            for result in group.results:
                result.action, result.object_id = RowAction.UNCHANGED, order.pk
            return
        current = [
            {
                "product": line.product,
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
            }
            for line in order.lines.select_related("product").order_by("pk")
        ]
        if not current:
            self._report(
                group,
                [
                    {
                        "field": "sku",
                        "message": "The order's first row gave a total without lines; give "
                        "every row of an order a line, or none.",
                    }
                ],
            )
            return
        try:
            if dry_run:
                errors: dict[str, list[str]] = {}
                commerce.clean_lines(group.lines(), errors)
                if errors:
                    raise ValidationError(errors)
            else:
                with transaction.atomic():
                    commerce.update_order(
                        actor=run.actor, order=order, lines=current + group.lines()
                    )
        except ValidationError as exc:
            self._report(group, _errors_of(exc, group, offset=0 if dry_run else len(current)))
            return
        for result in group.results:
            result.object_id = order.pk
            result.after = {"order_id": group.order_id, "added_to_order": order.pk}

    def _check_lines(self, group: OrderGroup):
        errors: dict[str, list[str]] = {}
        commerce.clean_lines(group.lines(), errors)
        if errors:
            self._report(group, _errors_of(ValidationError(errors), group))
            return
        for result in group.results:
            result.after = {"order_id": group.order_id}

    # --- orders imported before ----------------------------------------------------------------

    def _match_existing(self, group: OrderGroup, order: Order, run: OrderRun, *, dry_run: bool):
        """An order already recorded (an earlier import, the webhook): never a second one. Its
        status may move forward unless the policy is to skip."""
        if not access.can(run.actor, Action.CHANGE, order):
            for result in group.results:
                _fail(result, "order_id", "This order exists and is outside your access.")
            return
        for result in group.results:
            result.object_id = order.pk
            result.action = RowAction.UNCHANGED
        raw = group.first.values.get("status", "")
        status = _status(raw) if raw else ""
        if not status or status == order.status:
            return
        first = group.results[0]
        if run.policy == ImportPolicy.SKIP:
            first.action = RowAction.SKIPPED
            first.after = {"order_id": group.order_id, "status_in_file": status}
            return
        if status not in OrderStatus.values:
            _fail(first, "status", f"Choose one of: {', '.join(OrderStatus.values)}.")
            return
        allowed = STATUS_TRANSITIONS[OrderStatus(order.status)]
        if status not in allowed:
            names = ", ".join(sorted(allowed)) or "nothing (it is final)"
            _fail(first, "status", f"A {order.status} order can only become: {names}.")
            return
        if not dry_run:
            try:
                with transaction.atomic():
                    commerce.set_order_status(actor=run.actor, order=order, status=status)
            except ValidationError as exc:
                self._report(group, _errors_of(exc, group), rows=[first])
                return
        first.action = RowAction.UPDATED
        first.before = {"status": order.status}
        first.after = {"status": status}

    # --- reporting -----------------------------------------------------------------------------

    def _report(self, group: OrderGroup, errors: list[dict], rows=None):
        """Mark the order's rows as errors: each problem on the row it comes from (a line's on
        its row, the order's on its first row); the other rows point at those."""
        by_row: dict[int, list[dict]] = {}
        for error in errors:
            by_row.setdefault(error.pop("row", group.first.number), []).append(error)
        failing = ", ".join(str(number) for number in sorted(by_row))
        for result in rows or group.results:
            result.action = RowAction.ERROR
            result.object_id = None
            result.errors = by_row.get(result.number) or [
                {
                    "field": "order_id",
                    "message": f"Order {group.order_id} was not imported: see row {failing}.",
                }
            ]

    # --- undo ----------------------------------------------------------------------------------

    def undo(self, job, rows, actor) -> dict:
        """Delete the orders this import created, unless changed since; put back the statuses
        it moved, where nobody moved them since."""
        report = {"deleted": 0, "restored": 0, "kept_changed_since": 0, "already_gone": 0}
        finished = job.finished_at or job.created_at
        created = created_ids(rows, ORDER)
        changed_since = audit_changed_since("commerce.order", created, finished)
        orders = Order.objects.in_bulk(created)
        for pk in created:
            order = orders.get(pk)
            if order is None:
                report["already_gone"] += 1
            elif pk in changed_since or not access.can(actor, Action.DELETE, order):
                # An order the undoer may no longer delete is kept, as the other importers do.
                report["kept_changed_since"] += 1
            else:
                commerce.delete_order(actor=actor, order=order)
                report["deleted"] += 1
        for row in rows:
            if row.action != RowAction.UPDATED or row.entity != ORDER or not row.before:
                continue
            order = Order.objects.filter(pk=row.object_id).first()
            if order is None:
                report["already_gone"] += 1
                continue
            if order.status != row.after.get("status") or not access.can(
                actor, Action.CHANGE, order
            ):
                report["kept_changed_since"] += 1
                continue
            # Back to the earlier status, which `set_order_status` would refuse (statuses only
            # move forward): an undo puts the record back as it was, it is not a new event.
            Order.objects.filter(pk=order.pk).update(status=row.before["status"])
            record_change(
                actor=actor,
                action=ChangeAction.UPDATE,
                instance=order,
                before={"status": order.status},
                after={"status": row.before["status"]},
                message=f"import #{job.pk} undone",
            )
            report["restored"] += 1
        return report


def _status(raw: str) -> str:
    name = raw.strip().lower().replace(" ", "_").replace("-", "_")
    if not name:
        return OrderStatus.PAID
    return STATUS_NAMES.get(name, name)


def _fail(result: RowResult, target: str, message: str) -> None:
    result.action = RowAction.ERROR
    result.errors = [{"field": target, "message": message}]


def _errors_of(exc: ValidationError, group: OrderGroup, *, offset: int = 0) -> list[dict]:
    """The commerce service's errors (keyed by its field paths) as the rows and columns of
    the file: `lines[2].sku` is the SKU column of the order's third line row."""
    line_rows = group.line_rows()
    errors = []
    for key, messages in exc.message_dict.items():
        row, target = group.first.number, key
        line = _LINE_KEY.match(key)
        if line:
            index = int(line.group(1)) - offset
            if 0 <= index < len(line_rows):
                row = line_rows[index].number
            target = {"product_id": "sku", "product": "sku", None: "sku"}.get(
                line.group(2), line.group(2)
            )
        elif key == "lines":
            target = "sku"
        elif key == "contact":
            values = group.first.values
            target = next(
                (n for n in ("contact_id", "customer_id", "email") if values.get(n)), "email"
            )
        elif key == "organization":
            target = "organization_id"
        elif key == "external_id":
            target = "order_id"
        for message in messages:
            errors.append({"field": target, "message": message, "row": row})
    return errors
