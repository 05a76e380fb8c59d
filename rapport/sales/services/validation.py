"""Checks the sales services share: text fields, money, dates, the acting user."""

from __future__ import annotations

import datetime as dt
import decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

MAX_AMOUNT = decimal.Decimal("999999999999.99")


def actor_id(actor) -> int | None:
    return actor.pk if getattr(actor, "is_authenticated", False) else None


def actor_or_none(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def merge_errors(errors: dict, exc: ValidationError, prefix: str = "") -> None:
    if hasattr(exc, "error_dict"):
        for key, messages in exc.message_dict.items():
            name = prefix.rstrip(".") if key == "__all__" and prefix else f"{prefix}{key}"
            errors.setdefault(name or "__all__", []).extend(messages)
    else:
        errors.setdefault(prefix.rstrip(".") or "__all__", []).extend(exc.messages)


def clean_text(value, *, field: str, errors: dict, limit: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.setdefault(field, []).append("Enter text.")
        return ""
    value = value.strip()
    if "\x00" in value:
        errors.setdefault(field, []).append("Contains a null character.")
        return ""
    if len(value) > limit:
        errors.setdefault(field, []).append(
            f"Use at most {limit} characters (it has {len(value)})."
        )
    if required and not value:
        errors.setdefault(field, []).append("This field is required.")
    return value


def clean_amount(value, *, field: str, errors: dict) -> decimal.Decimal:
    if value is None or value == "":
        return decimal.Decimal("0.00")
    if isinstance(value, bool) or (isinstance(value, float) and value != value):
        errors.setdefault(field, []).append("Enter an amount.")
        return decimal.Decimal("0.00")
    try:
        amount = decimal.Decimal(str(value).strip().replace(",", ""))
    except decimal.InvalidOperation:
        errors.setdefault(field, []).append("Enter an amount, e.g. 12500.00.")
        return decimal.Decimal("0.00")
    if not amount.is_finite():
        errors.setdefault(field, []).append("Enter an amount, e.g. 12500.00.")
        return decimal.Decimal("0.00")
    if amount < 0:
        errors.setdefault(field, []).append("Must not be negative.")
    elif amount > MAX_AMOUNT:
        errors.setdefault(field, []).append("Must be below 1,000,000,000,000.")
    if amount.as_tuple().exponent < -2 and amount != amount.quantize(decimal.Decimal("0.01")):
        errors.setdefault(field, []).append("Use at most two decimal places.")
    return amount.quantize(decimal.Decimal("0.01")) if amount.is_finite() else amount


def clean_currency(value, *, field: str, errors: dict) -> str:
    text = (value or "").strip().upper() if isinstance(value, str) else ""
    if len(text) != 3 or not text.isalpha() or not text.isascii():
        errors.setdefault(field, []).append("Use a three-letter ISO 4217 code, e.g. EUR.")
    return text


def clean_date(value, *, field: str, errors: dict, required: bool = True) -> dt.date | None:
    if value in (None, ""):
        if required:
            errors.setdefault(field, []).append("This field is required.")
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        day = dt.date.fromisoformat(str(value).strip())
    except ValueError:
        errors.setdefault(field, []).append("Enter a date as YYYY-MM-DD.")
        return None
    if not 1900 <= day.year <= 2200:
        errors.setdefault(field, []).append("Enter a date between 1900 and 2200.")
        return None
    return day


def clean_moment(value, *, field: str, errors: dict) -> dt.datetime:
    """A past or present, time-zone-aware moment for back-dated history (now when None)."""
    now = timezone.now()
    if value is None:
        return now
    if not isinstance(value, dt.datetime) or timezone.is_naive(value):
        errors.setdefault(field, []).append("Give a date and time with a time zone.")
        return now
    if value > now + dt.timedelta(minutes=5):
        errors.setdefault(field, []).append("Must not be in the future.")
    return value


def clean_names(raw, *, field: str, errors: dict, limit: int = 100, most: int = 50) -> list[str]:
    """A list of short names (products, tags): trimmed, de-duplicated case-insensitively."""
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [part for part in raw.replace(";", ",").split(",")]
    if not isinstance(raw, list | tuple) or any(not isinstance(item, str) for item in raw):
        errors.setdefault(field, []).append("Must be a list of names.")
        return []
    names: list[str] = []
    seen = set()
    for item in raw:
        name = " ".join(item.split())
        if not name:
            continue
        if len(name) > limit or "\x00" in name:
            errors.setdefault(field, []).append(f"Each name has at most {limit} characters.")
            return []
        if name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    if len(names) > most:
        errors.setdefault(field, []).append(f"At most {most} names.")
        return []
    return names
