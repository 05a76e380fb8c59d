"""The company currency and its exchange rates: every write, and the rate book reads use.

Who may do what is declared once, in `CommerceConfig.ready()` (`access.register_configuration`):
everyone signed in may read, only administrators write (each write is audited). A rate is what
one unit of a currency is worth in the company currency from its date on (the maths and the
rule for picking a rate live in `rapport.core.currency`).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.commerce.models import CompanyCurrency, ExchangeRate, Order, Product, RateSource
from rapport.core.currency import (
    COMMON_CURRENCIES,
    MAX_RATE,
    RATE_PLACES,
    RateBook,
    parse_ecb_csv,
)

RATE_FIELDS = ["currency", "to_currency", "rate", "valid_on", "source"]
MAX_IMPORT_BYTES = 5_000_000
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2999, 12, 31)


def _actor_or_none(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _clean_code(value, errors: dict, name: str) -> str:
    code = str(value or "").strip().upper()
    if not (len(code) == 3 and code.isascii() and code.isalpha()):
        errors.setdefault(name, []).append("Use a three-letter ISO 4217 code, e.g. EUR.")
    return code


# --------------------------------------------------------------------------- company currency


def company_currency() -> str:
    """The administrator's choice, or RAPPORT_CURRENCY from the environment until there is one."""
    row = CompanyCurrency.objects.filter(pk=1).only("code").first()
    return row.code if row else settings.RAPPORT_CURRENCY


@transaction.atomic
def set_company_currency(*, actor, code: str) -> CompanyCurrency:
    """Report in `code` from now on. Rates given for the former currency stay but go unused."""
    access.require(actor, Action.CHANGE, CompanyCurrency)
    errors: dict[str, list[str]] = {}
    code = _clean_code(code, errors, "code")
    if errors:
        raise ValidationError(errors)
    row = CompanyCurrency.objects.select_for_update().filter(pk=1).first()
    if row is None:
        row = CompanyCurrency.objects.create(pk=1, code=code)
        record_change(
            actor=actor, action=ChangeAction.CREATE, instance=row, after=snapshot(row, ["code"])
        )
        return row
    before = snapshot(row, ["code"])
    row.code = code
    row.save(update_fields=["code", "updated_at"])
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=row,
        before=before,
        after=snapshot(row, ["code"]),
    )
    return row


def currency_choices() -> list[tuple[str, str]]:
    """The ISO codes the app already uses: the company's, those of orders, products and rates,
    and the common ones every currency picker offers."""
    in_use = sorted(
        set(Order.objects.order_by().values_list("currency", flat=True).distinct())
        | set(Product.objects.order_by().values_list("currency", flat=True).distinct())
        | set(ExchangeRate.objects.order_by().values_list("currency", flat=True).distinct())
    )
    codes = dict.fromkeys(c for c in (company_currency(), *COMMON_CURRENCIES, *in_use) if c)
    return [(code, code) for code in codes]


# --------------------------------------------------------------------------- reads


def rates_in_use():
    """The rates to the current company currency, newest first per currency."""
    return ExchangeRate.objects.filter(to_currency=company_currency())


def load_rate_book(
    *,
    currencies: Iterable[str] | None = None,
    first: dt.date | None = None,
    last: dt.date | None = None,
) -> RateBook:
    """The company currency and the rates that can serve amounts dated `first`…`last` in
    `currencies` (all of them when not given): those inside the window and, per currency, the
    latest one before it. A full ECB history is some 200,000 rates; a page needs a handful.
    At most three queries, once per request.
    """
    company = company_currency()
    rates = ExchangeRate.objects.filter(to_currency=company)
    if currencies is not None:
        wanted = sorted({code for code in currencies if code != company})
        if not wanted:
            return RateBook(company_currency=company)
        rates = rates.filter(currency__in=wanted)
    if last is not None:
        rates = rates.filter(valid_on__lte=last)
    if first is not None:
        still_valid = (
            rates.filter(valid_on__lt=first)
            .order_by()
            .values("currency")
            .annotate(day=Max("valid_on"))
            .values_list("currency", "day")
        )
        window = Q(valid_on__gte=first)
        for code, day in still_valid:
            window |= Q(currency=code, valid_on=day)
        rates = rates.filter(window)
    return RateBook.from_rows(company, rates.values_list("currency", "valid_on", "rate"))


# --------------------------------------------------------------------------- writes


def _clean_rate(value, errors: dict) -> decimal.Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        errors.setdefault("rate", []).append("This field is required.")
        return None
    try:
        rate = decimal.Decimal(str(value).strip())
    except (decimal.InvalidOperation, ValueError):
        errors.setdefault("rate", []).append("Give a number, e.g. 0.92.")
        return None
    if not rate.is_finite():
        errors.setdefault("rate", []).append("Give a number, e.g. 0.92.")
        return None
    if rate <= 0:
        errors.setdefault("rate", []).append("Must be greater than zero.")
        return None
    if rate > MAX_RATE:
        errors.setdefault("rate", []).append(f"Must be at most {MAX_RATE}.")
        return None
    rounded = rate.quantize(RATE_PLACES, rounding=decimal.ROUND_HALF_EVEN)
    if rounded <= 0:
        errors.setdefault("rate", []).append("Use at most ten decimal places.")
        return None
    return rounded


def _clean_date(value, errors: dict) -> dt.date | None:
    if value in (None, ""):
        errors.setdefault("valid_on", []).append("This field is required.")
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        try:
            value = dt.date.fromisoformat(str(value).strip())
        except ValueError:
            errors.setdefault("valid_on", []).append("Give a date as YYYY-MM-DD.")
            return None
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        errors.setdefault("valid_on", []).append("Give a date between 1900 and 2999.")
        return None
    return value


@transaction.atomic
def add_rate(
    *, actor, currency: str, rate, valid_on, source: str = RateSource.ENTERED
) -> ExchangeRate:
    """Record that one `currency` is worth `rate` company currency from `valid_on` on."""
    access.require(actor, Action.CREATE, ExchangeRate)
    errors: dict[str, list[str]] = {}
    company = company_currency()
    currency = _clean_code(currency, errors, "currency")
    if "currency" not in errors and currency == company:
        errors["currency"] = [f"{company} is the company currency; it needs no rate."]
    rate = _clean_rate(rate, errors)
    valid_on = _clean_date(valid_on, errors)
    if source not in RateSource.values:
        errors.setdefault("source", []).append("Choose entered, imported or demo.")
    if not errors and (
        ExchangeRate.objects.filter(
            currency=currency, to_currency=company, valid_on=valid_on
        ).exists()
    ):
        errors["valid_on"] = [
            f"There is already a {currency} rate for {valid_on.isoformat()}; delete it first."
        ]
    if errors:
        raise ValidationError(errors)
    row = ExchangeRate.objects.create(
        currency=currency,
        to_currency=company,
        rate=rate,
        valid_on=valid_on,
        source=source,
        created_by=_actor_or_none(actor),
    )
    record_change(
        actor=actor, action=ChangeAction.CREATE, instance=row, after=snapshot(row, RATE_FIELDS)
    )
    return row


@transaction.atomic
def delete_rate(*, actor, rate: ExchangeRate) -> None:
    """Remove a rate; amounts dated after it convert with the one before, or are reported."""
    access.require(actor, Action.DELETE, rate)
    before = snapshot(rate, RATE_FIELDS)
    record_change(actor=actor, action=ChangeAction.DELETE, instance=rate, before=before)
    rate.delete()


@dataclass
class RateImport:
    created: int = 0
    updated: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line number, message)


@transaction.atomic
def import_ecb_rates(*, actor, text: str) -> RateImport:
    """Import an ECB reference-rate CSV (rates per one euro), converted to the company currency.

    Rows that cannot be read are reported by line and skipped; the others are kept. A rate for a
    currency and date that is already known is replaced by the file's (an import can be re-run).
    """
    access.require(actor, Action.CREATE, ExchangeRate)
    if len(text.encode()) > MAX_IMPORT_BYTES:
        raise ValidationError({"file": ["The file is larger than 5 MB."]})
    company = company_currency()
    parsed = parse_ecb_csv(text, company)
    result = RateImport(problems=list(parsed.problems))
    if not parsed.rates:
        return result
    existing = {
        (row.currency, row.valid_on): row
        for row in ExchangeRate.objects.select_for_update().filter(
            to_currency=company,
            valid_on__gte=min(r.valid_on for r in parsed.rates),
            valid_on__lte=max(r.valid_on for r in parsed.rates),
        )
    }
    new_rows, changed = [], {}
    out_of_range: set[int] = set()
    now = timezone.now()
    for item in parsed.rates:
        if not EARLIEST_DATE <= item.valid_on <= LATEST_DATE:
            if item.line not in out_of_range:
                out_of_range.add(item.line)
                result.problems.append((item.line, "Give a date between 1900 and 2999."))
            continue
        row = existing.get((item.currency, item.valid_on))
        if row is None:
            row = ExchangeRate(
                currency=item.currency,
                to_currency=company,
                rate=item.rate,
                valid_on=item.valid_on,
                source=RateSource.IMPORTED,
                created_by=_actor_or_none(actor),
            )
            existing[(item.currency, item.valid_on)] = row
            new_rows.append(row)
        elif row.pk is None:
            row.rate = item.rate  # the same date twice in one file: the later row wins
        elif row.rate != item.rate or row.source != RateSource.IMPORTED:
            row.rate = item.rate
            row.source = RateSource.IMPORTED
            row.updated_at = now  # bulk_update skips auto_now
            changed[row.pk] = row
    ExchangeRate.objects.bulk_create(new_rows, batch_size=1000)
    ExchangeRate.objects.bulk_update(
        list(changed.values()), ["rate", "source", "updated_at"], batch_size=1000
    )
    result.created, result.updated = len(new_rows), len(changed)
    record_change(
        actor=actor,
        action=ChangeAction.CREATE,
        entity="commerce.exchangerate",
        object_id="import",
        object_repr="ECB rate import",
        message=(
            f"Imported exchange rates to {company}: {result.created} new, "
            f"{result.updated} replaced, {len(result.problems)} rows skipped."
        ),
    )
    return result


# Rough values per one euro, for the demo only: nothing here is a market rate.
DEMO_UNITS_PER_EURO = {
    "USD": decimal.Decimal("1.08"),
    "GBP": decimal.Decimal("0.85"),
    "CHF": decimal.Decimal("0.95"),
    "SEK": decimal.Decimal("11.30"),
    "NOK": decimal.Decimal("11.60"),
    "DKK": decimal.Decimal("7.46"),
    "PLN": decimal.Decimal("4.30"),
    "CZK": decimal.Decimal("25.00"),
    "CAD": decimal.Decimal("1.47"),
    "AUD": decimal.Decimal("1.63"),
    "JPY": decimal.Decimal("160.00"),
}


@transaction.atomic
def add_demo_rates(*, actor, today: dt.date | None = None, months: int = 36) -> int:
    """Give the demo a rate on the first of each of the last `months` months for the common
    currencies, so its totals convert. Labelled "demo rate" everywhere they show; returns how
    many were added (dates that already have a rate are left alone)."""
    access.require(actor, Action.CREATE, ExchangeRate)
    today = today or timezone.localdate()
    company = company_currency()
    per_euro = {"EUR": decimal.Decimal(1), **DEMO_UNITS_PER_EURO}
    if company not in per_euro:
        return 0
    first = today.replace(day=1)
    days = []
    for back in range(months):
        index = first.year * 12 + first.month - 1 - back
        days.append(dt.date(index // 12, index % 12 + 1, 1))
    taken = set(
        ExchangeRate.objects.filter(to_currency=company, valid_on__in=days).values_list(
            "currency", "valid_on"
        )
    )
    rows = []
    for step, day in enumerate(sorted(days)):
        # A small, steady drift so month-to-month conversions differ a little, as real ones do.
        drift = 1 + decimal.Decimal((step % 7) - 3) / 400
        for code, units in per_euro.items():
            if code == company or (code, day) in taken:
                continue
            rate = (per_euro[company] / (units * drift)).quantize(RATE_PLACES)
            rows.append(
                ExchangeRate(
                    currency=code,
                    to_currency=company,
                    rate=rate,
                    valid_on=day,
                    source=RateSource.DEMO,
                    created_by=_actor_or_none(actor),
                )
            )
    ExchangeRate.objects.bulk_create(rows, batch_size=1000)
    if rows:
        record_change(
            actor=actor,
            action=ChangeAction.CREATE,
            entity="commerce.exchangerate",
            object_id="demo",
            object_repr="Demo exchange rates",
            message=f"Added {len(rows)} demo exchange rates to {company} (not market rates).",
        )
    return len(rows)
