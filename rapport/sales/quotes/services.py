"""Making, sending and deciding quotes: the only write path, for pages, API and tasks alike.

A quote copies the deal's lines when it is made and is never edited afterwards; a change is a
new version of the same number, which supersedes the open one. Whoever may change the deal
may quote it, send, accept and decline its quotes; whoever may see the deal sees its quotes.
Accepting a quote does not win the deal: the deal page offers that as the next step.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import dateformat, timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.core import display
from rapport.sales.models import Deal, Quote, QuoteLine, QuoteSettings, QuoteStatus
from rapport.sales.models.pipelines import net_unit_price
from rapport.sales.models.quotes import OPEN_STATUSES
from rapport.sales.quotes import numbering
from rapport.sales.quotes.mailing import Attachment, quote_mailer
from rapport.sales.services.deal_lines import MAX_LINES, MAX_QUANTITY, MAX_TOTAL, MAX_UNIT_PRICE
from rapport.sales.services.validation import actor_or_none, clean_date, clean_text

CENT = Decimal("0.01")
TEXT_LIMIT = 5000
REASON_LIMIT = 500
LINE_FIELDS = {"name", "sku", "description", "quantity", "unit_price", "discount"}
SETTINGS_FIELDS = {"company_name", "company_details", "default_terms", "validity_days"}
MAX_VALIDITY_DAYS = 365


# --------------------------------------------------------------------------- settings


def get_quote_settings() -> QuoteSettings:
    """The one settings row, created with defaults on first use."""
    row, _created = QuoteSettings.objects.get_or_create(pk=1)
    return row


@transaction.atomic
def update_quote_settings(*, actor, **changes) -> QuoteSettings:
    """What quotes say about the company, their default terms and how long they are valid.
    Administrators only; quotes already made keep what they were made with."""
    access.require(actor, Action.CHANGE, QuoteSettings)
    unknown = set(changes) - SETTINGS_FIELDS
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    get_quote_settings()
    row = QuoteSettings.objects.select_for_update().get(pk=1)
    before = snapshot(row)
    errors: dict[str, list[str]] = {}
    if "company_name" in changes:
        row.company_name = clean_text(
            changes["company_name"], field="company_name", errors=errors, limit=200
        )
    for name in ("company_details", "default_terms"):
        if name in changes:
            setattr(
                row, name, clean_text(changes[name], field=name, errors=errors, limit=TEXT_LIMIT)
            )
    if "validity_days" in changes:
        days = changes["validity_days"]
        if (
            isinstance(days, bool)
            or not isinstance(days, int)
            or not 1 <= days <= MAX_VALIDITY_DAYS
        ):
            errors["validity_days"] = [
                f"Give a whole number of days from 1 to {MAX_VALIDITY_DAYS}."
            ]
        else:
            row.validity_days = days
    if errors:
        raise ValidationError(errors)
    row.save()
    record_change(
        actor=actor, action=ChangeAction.UPDATE, instance=row, before=before, after=snapshot(row)
    )
    return row


# --------------------------------------------------------------------------- lines


def _copied_lines(deal: Deal) -> list[QuoteLine]:
    """The deal's lines as they are now; a deal without lines is quoted as one line of its
    amount, as a rep who never itemized it would write it by hand."""
    lines = [
        QuoteLine(
            product_id=line.product_id,
            name=line.product.name,
            sku=line.product.sku,
            description=line.product.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            discount=line.discount,
            line_total=line.line_total,
        )
        for line in deal.lines.select_related("product").order_by("position", "id")
    ]
    if not lines and deal.amount > 0:
        lines = [
            QuoteLine(
                name=deal.name,
                quantity=1,
                unit_price=deal.amount,
                discount=Decimal("0.00"),
                line_total=deal.amount,
            )
        ]
    return lines


def _whole_number(value, field: str, errors: dict) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        errors.setdefault(field, []).append("Give a whole number.")
        return 1
    if value < 1:
        errors.setdefault(field, []).append("Must be at least 1: a quote cannot offer less.")
    elif value > MAX_QUANTITY:
        errors.setdefault(field, []).append(f"Must be at most {display.number_text(MAX_QUANTITY)}.")
    return value


def _decimal(value, field: str, errors: dict, *, default=None, low=0, high=None) -> Decimal:
    if value in (None, "") and default is not None:
        return default
    if value in (None, "") or isinstance(value, bool):
        errors.setdefault(field, []).append("Give a number, e.g. 12.50.")
        return Decimal("0.00")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        errors.setdefault(field, []).append("Give a number, e.g. 12.50.")
        return Decimal("0.00")
    if not number.is_finite() or number < low or (high is not None and number > high):
        bound = (
            f"between {low} and {display.number_text(high)}"
            if high is not None
            else f"at least {low}"
        )
        errors.setdefault(field, []).append(f"Must be {bound}.")
        return Decimal("0.00")
    if number != number.quantize(CENT):
        errors.setdefault(field, []).append("Use at most two decimal places.")
        return Decimal("0.00")
    return number.quantize(CENT)


def _given_lines(items, errors: dict) -> list[QuoteLine]:
    """Lines written for this quote alone (the API); errors are keyed `lines[i].field`."""
    if not isinstance(items, list | tuple) or not items or len(items) > MAX_LINES:
        errors["lines"] = [f"Give a list of 1 to {MAX_LINES} lines."]
        return []
    built = []
    for index, item in enumerate(items):
        prefix = f"lines[{index}]."
        if not isinstance(item, dict) or set(item) - LINE_FIELDS:
            errors[f"lines[{index}]"] = [
                "Give name, quantity, unit_price and optionally sku, description and discount."
            ]
            continue
        line = QuoteLine(
            name=clean_text(
                item.get("name"), field=f"{prefix}name", errors=errors, limit=200, required=True
            ),
            sku=clean_text(item.get("sku"), field=f"{prefix}sku", errors=errors, limit=100),
            description=clean_text(
                item.get("description"),
                field=f"{prefix}description",
                errors=errors,
                limit=TEXT_LIMIT,
            ),
            quantity=_whole_number(item.get("quantity", 1), f"{prefix}quantity", errors),
            unit_price=_decimal(
                item.get("unit_price"), f"{prefix}unit_price", errors, high=MAX_UNIT_PRICE
            ),
            discount=_decimal(
                item.get("discount"), f"{prefix}discount", errors, default=Decimal("0.00"), high=100
            ),
        )
        line.line_total = Decimal("0.00")
        if not any(key.startswith(prefix) for key in errors):
            # Before the discount too: the subtotal is stored, and must fit.
            if line.unit_price * line.quantity > MAX_TOTAL:
                errors[f"{prefix}quantity"] = ["The line total is too large."]
            else:
                total = net_unit_price(line.unit_price, line.discount) * line.quantity
                line.line_total = total.quantize(CENT)
        built.append(line)
    return built


def _totals(lines: list[QuoteLine]) -> tuple[Decimal, Decimal, Decimal]:
    """(subtotal before discounts, the discounts, total): exact to the cent, in one currency."""
    total = sum((line.line_total for line in lines), Decimal("0.00"))
    subtotal = sum(
        ((line.unit_price * line.quantity).quantize(CENT, ROUND_HALF_UP) for line in lines),
        Decimal("0.00"),
    )
    return subtotal, subtotal - total, total


# --------------------------------------------------------------------------- creating


def _customer(deal: Deal) -> tuple[str, str]:
    contact_name = deal.contact.full_name if deal.contact_id else ""
    organization_name = deal.organization.name if deal.organization_id else ""
    return contact_name[:200], organization_name[:200]


def _supersede_open(actor, deal: Deal, today: dt.date) -> Quote | None:
    """Close the deal's open version (expired when its time ran out, else superseded) and
    return the quote whose number a new version continues: the latest, unless it was accepted
    or declined (a new offer after a decision starts a new number)."""
    latest = deal.quotes.select_for_update().order_by("-created_at", "-id").first()
    for quote in deal.quotes.select_for_update().filter(status__in=OPEN_STATUSES):
        new_status = QuoteStatus.EXPIRED if quote.is_expired_on(today) else QuoteStatus.SUPERSEDED
        _set_status(actor, quote, new_status, message=f"{quote.label}: {new_status.label.lower()}")
    if latest is None or latest.status in (QuoteStatus.ACCEPTED, QuoteStatus.DECLINED):
        return None
    return latest


@transaction.atomic
def create_quote(
    *,
    actor,
    deal: Deal,
    valid_until=None,
    notes: str = "",
    terms: str | None = None,
    lines: list[dict] | None = None,
) -> Quote:
    """A new quote of `deal`: its lines copied (or `lines` given, each with name, quantity,
    unit_price and optionally sku, description, discount %), valid until `valid_until` (by
    default the settings' number of days from today; never in the past), with the settings'
    terms unless `terms` is given. While the deal has an open quote, the new one is its next
    version (same number) and the open one is superseded; otherwise it takes the year's next
    number. Refused for an archived deal or one with nothing to quote."""
    access.require(actor, Action.CHANGE, deal)
    deal = (
        Deal.objects.select_for_update(of=("self",))
        .select_related("contact", "organization")
        .get(pk=deal.pk)
    )
    if deal.is_archived:
        raise ValidationError({"deal": ["This deal is archived."]})
    settings_row = get_quote_settings()
    today = timezone.localdate()
    errors: dict[str, list[str]] = {}
    if valid_until in (None, ""):
        valid_until = today + dt.timedelta(days=settings_row.validity_days)
    else:
        valid_until = clean_date(valid_until, field="valid_until", errors=errors)
        if valid_until is not None and valid_until < today:
            errors.setdefault("valid_until", []).append("Must be today or later.")
        elif valid_until is not None and valid_until > today + dt.timedelta(days=MAX_VALIDITY_DAYS):
            errors.setdefault("valid_until", []).append("Must be within a year from today.")
    notes = clean_text(notes, field="notes", errors=errors, limit=TEXT_LIMIT)
    if terms is None:
        terms = settings_row.default_terms
    else:
        terms = clean_text(terms, field="terms", errors=errors, limit=TEXT_LIMIT)
    built = _given_lines(lines, errors) if lines is not None else _copied_lines(deal)
    if lines is None and not built:
        errors["lines"] = ["Add products or an amount to the deal before quoting it."]
    if errors:
        raise ValidationError(errors)
    subtotal, discount_total, total = _totals(built)
    if subtotal > MAX_TOTAL:
        raise ValidationError({"lines": ["The quote's total is too large."]})

    continued = _supersede_open(actor, deal, today)
    if continued is not None:
        number = continued.number
        version = (
            Quote.objects.filter(number=number)
            .order_by("-version")
            .values_list("version", flat=True)
            .first()
            + 1
        )
    else:
        number, version = numbering.take_number(today.year), 1
    customer_name, organization_name = _customer(deal)
    quote = Quote.objects.create(
        deal=deal,
        number=number,
        version=version,
        status=QuoteStatus.DRAFT,
        title=deal.name,
        currency=deal.currency,
        issued_on=today,
        valid_until=valid_until,
        subtotal=subtotal,
        discount_total=discount_total,
        total=total,
        contact=deal.contact,
        organization=deal.organization,
        customer_name=customer_name,
        organization_name=organization_name,
        company_name=settings_row.company_name,
        company_details=settings_row.company_details,
        notes=notes,
        terms=terms,
        created_by=actor_or_none(actor),
    )
    for position, line in enumerate(built, start=1):
        line.quote = quote
        line.position = position
    QuoteLine.objects.bulk_create(built)
    record_change(
        actor=actor,
        action=ChangeAction.CREATE,
        instance=quote,
        after={**snapshot(quote), "lines": len(built)},
        message=f"quote {quote.label} for {total} {quote.currency}"[:300],
    )
    return quote


# --------------------------------------------------------------------------- deciding


def _set_status(actor, quote: Quote, status: str, *, message: str, **fields) -> Quote:
    before = snapshot(quote, ["status", *fields])
    quote.status = status
    for name, value in fields.items():
        setattr(quote, name, value)
    quote.save(update_fields=["status", *fields, "updated_at"])
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=quote,
        before=before,
        after=snapshot(quote, ["status", *fields]),
        message=message[:300],
    )
    return quote


def _locked(actor, quote: Quote) -> Quote:
    access.require(actor, Action.CHANGE, quote)
    return Quote.objects.select_for_update(of=("self",)).select_related("deal").get(pk=quote.pk)


def transition_problem(quote: Quote, today: dt.date | None = None) -> str | None:
    """Why the customer's answer can no longer be recorded on `quote` (None when it can)."""
    today = today or timezone.localdate()
    if quote.status == QuoteStatus.SUPERSEDED:
        newer = (
            Quote.objects.filter(
                deal_id=quote.deal_id, number=quote.number, version__gt=quote.version
            )
            .order_by("-version")
            .first()
        )
        latest = f" ({newer.label})" if newer is not None else ""
        return f"A newer version of this quote replaced it{latest}; use that one."
    if quote.status == QuoteStatus.ACCEPTED:
        return "This quote was already accepted."
    if quote.status == QuoteStatus.DECLINED:
        return "This quote was declined; create a new quote to offer again."
    if quote.status == QuoteStatus.EXPIRED or quote.is_expired_on(today):
        day = display.day_text(quote.valid_until)
        return f"This quote expired after {day}; create a new version with a new date."
    return None


@transaction.atomic
def mark_accepted(*, actor, quote: Quote) -> Quote:
    """The customer accepted: the quote is accepted (who recorded it, when). The deal stays
    where it is; winning it is the rep's next step."""
    quote = _locked(actor, quote)
    if problem := transition_problem(quote):
        raise ValidationError({"status": [problem]})
    return _set_status(
        actor,
        quote,
        QuoteStatus.ACCEPTED,
        message=f"{quote.label} accepted",
        decided_at=timezone.now(),
        decided_by=actor_or_none(actor),
    )


@transaction.atomic
def mark_declined(*, actor, quote: Quote, reason: str = "") -> Quote:
    """The customer declined, optionally saying why."""
    quote = _locked(actor, quote)
    errors: dict[str, list[str]] = {}
    reason = clean_text(reason, field="reason", errors=errors, limit=REASON_LIMIT)
    if problem := transition_problem(quote):
        errors["status"] = [problem]
    if errors:
        raise ValidationError(errors)
    return _set_status(
        actor,
        quote,
        QuoteStatus.DECLINED,
        message=f"{quote.label} declined" + (f": {reason}" if reason else ""),
        decided_at=timezone.now(),
        decided_by=actor_or_none(actor),
        decline_reason=reason,
    )


@transaction.atomic
def expire_due_quotes(*, today: dt.date | None = None) -> int:
    """Mark open quotes past their last valid day expired (the system's daily job); how many."""
    today = today or timezone.localdate()
    due = Quote.objects.select_for_update().filter(status__in=OPEN_STATUSES, valid_until__lt=today)
    count = 0
    for quote in due:
        _set_status(None, quote, QuoteStatus.EXPIRED, message=f"{quote.label} expired")
        count += 1
    return count


# --------------------------------------------------------------------------- documents


def quote_pdf(*, actor, quote: Quote) -> bytes:
    """The quote as a PDF, for whoever may see its deal."""
    from rapport.sales.quotes.pdf import render_pdf

    access.require(actor, Action.VIEW, quote)
    return render_pdf(quote)


def message_html(text: str) -> str:
    """The user's plain message as HTML: paragraphs and line breaks kept, and braces written as
    entities so what they typed is sent as typed, never read as merge fields."""
    paragraphs = [part.strip() for part in (text or "").replace("\r\n", "\n").split("\n\n")]
    escaped = [
        html.escape(part).replace("\n", "<br>").replace("{", "&#123;").replace("}", "&#125;")
        for part in paragraphs
        if part
    ]
    return "".join(f"<p>{part}</p>" for part in escaped)


# The mail app's field names, in this form's words.
_SEND_FIELDS = {"body_html": "message", "attachments": "message"}


@transaction.atomic
def send_quote(
    *, actor, quote: Quote, mailbox, to: list[str], subject: str, message: str, cc=()
) -> Quote:
    """Email the quote as a PDF attachment from `mailbox` (an id or a mailbox the actor may
    send from) and mark it sent. The message is queued in the outbox in this transaction and
    delivered after the commit; it lands on the timeline of the contacts it goes to. Sending
    again (to someone else, say) is allowed while the quote is open. Refused for a quote that
    was superseded, decided or has expired, and when email is not set up."""
    quote = _locked(actor, quote)
    if problem := transition_problem(quote):
        raise ValidationError({"status": [problem]})
    mailer = quote_mailer()
    if mailer is None:
        raise ValidationError({"mailbox": ["Email is not set up: no mailbox can send quotes."]})
    if not (message or "").strip():
        raise ValidationError({"message": ["Write a message to go with the quote."]})
    deal = quote.deal
    # The mail is about the deal; its contact and organization are named only when the actor
    # may change them too (the mail app asks that), else recipients are matched by address.
    contact = deal.contact if deal.contact_id else None
    organization = deal.organization if deal.organization_id else None
    if contact is not None and not access.can(actor, Action.CHANGE, contact):
        contact = None
    if organization is not None and not access.can(actor, Action.CHANGE, organization):
        organization = None
    from rapport.sales.quotes.pdf import render_pdf

    mailbox_id = getattr(mailbox, "pk", mailbox)
    try:
        mailer.send(
            actor=actor,
            mailbox_id=mailbox_id,
            to=list(to or []),
            cc=list(cc or []),
            subject=subject,
            body_html=message_html(message),
            attachment=Attachment(quote.filename, "application/pdf", render_pdf(quote)),
            deal=deal,
            contact=contact,
            organization=organization,
        )
    except ValidationError as exc:
        if not hasattr(exc, "error_dict"):
            raise
        raise ValidationError(
            {_SEND_FIELDS.get(key, key): texts for key, texts in exc.message_dict.items()}
        ) from None
    addresses = ", ".join(address.strip() for address in [*to, *cc] if isinstance(address, str))
    return _set_status(
        actor,
        quote,
        QuoteStatus.SENT,
        message=f"{quote.label} sent to {addresses}",
        sent_at=timezone.now(),
        sent_to=addresses[:500],
    )


# --------------------------------------------------------------------------- what to offer


def default_email(actor, quote: Quote) -> dict:
    """What the send form starts with: the contact's address, a subject, a short message."""
    deal = quote.deal
    to = ""
    first_name = ""
    if deal.contact_id and access.can(actor, Action.VIEW, deal.contact):
        to = deal.contact.primary_email
        first_name = deal.contact.first_name
    greeting = f"Hello {first_name}," if first_name else "Hello,"
    sender = (actor.get_full_name() or actor.get_username()) if actor is not None else ""
    valid = dateformat.format(quote.valid_until, "j F Y")
    company = f" from {quote.company_name}" if quote.company_name else ""
    return {
        "to": to,
        "subject": f"Quote {quote.number} for {quote.title}"[:200],
        "message": (
            f"{greeting}\n\nplease find attached our quote {quote.number} (version "
            f"{quote.version}){company} for {quote.title}. It is valid until {valid}.\n\n"
            f"Kind regards,\n{sender}"
        ),
    }


def won_stage_offer(actor, deal: Deal):
    """The won stage to offer moving `deal` to once one of its quotes is accepted (None when
    the deal is not open, has no accepted quote, or the actor may not change it)."""
    if deal.status != "open" or deal.is_archived or not access.can(actor, Action.CHANGE, deal):
        return None
    if not deal.quotes.filter(status=QuoteStatus.ACCEPTED).exists():
        return None
    return deal.pipeline.stages.filter(kind="won").order_by("position").first()
