"""The deals list's filter and orderings: one reading of its query string, shared by the page
(`views.deals_list`) and the bulk actions' "all N that match" (`bulk_actions.deal_members`),
so the selection is exactly what the list shows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db.models import CharField, F, Q, Value
from django.db.models.functions import Coalesce, Concat, Lower

from rapport.contacts.search import MOST_WORDS, query_terms
from rapport.core.bulk import LIST_STATE
from rapport.core.ids import id_from_text
from rapport.sales.choices import DealStatus
from rapport.sales.models import Deal

SEARCH_LIMIT = 200
# Amounts are stored with 14 digits, 2 of them decimals.
LARGEST_AMOUNT = Decimal("999999999999.99")
FILTER_NAMES = (
    "q",
    "pipeline",
    "stage",
    "owner",
    "status",
    "close_from",
    "close_to",
    "amount_min",
    "amount_max",
)


@dataclass(frozen=True)
class DealOrdering:
    label: str
    fields: tuple[str, ...]


# Every sort key is non-null (keyset pagination needs a strict order): names that may be
# missing sort as "" through the annotations of `with_sort_keys`.
ORDERINGS: dict[str, DealOrdering] = {
    "name": DealOrdering("Deal", ("sort_name",)),
    "organization": DealOrdering("Organization", ("sort_organization",)),
    "contact": DealOrdering("Contact", ("sort_contact",)),
    "stage": DealOrdering("Stage", ("stage__position",)),
    "amount": DealOrdering("Amount", ("amount",)),
    "close": DealOrdering("Expected close", ("expected_close_date",)),
    "owner": DealOrdering("Owner", ("sort_owner",)),
    "activity": DealOrdering("Last activity", ("updated_at",)),
}
DEFAULT_ORDERING = "close"


def parse_sort(value: str | None) -> tuple[str, bool]:
    """(ordering key, descending) from "close" or "-activity"; the default when unknown."""
    value = (value or "").strip()
    descending = value.startswith("-")
    key = value.removeprefix("-")
    if key not in ORDERINGS:
        return DEFAULT_ORDERING, False
    return key, descending


def with_sort_keys(queryset):
    """The annotations the orderings sort by (lower-cased, missing as "")."""
    return queryset.annotate(
        sort_name=Lower("name"),
        sort_organization=Lower(Coalesce(F("organization__name"), Value(""))),
        sort_contact=Lower(
            Coalesce(
                Concat(
                    F("contact__last_name"),
                    Value(" "),
                    F("contact__first_name"),
                    output_field=CharField(),
                ),
                Value(""),
            )
        ),
        sort_owner=Lower(
            Coalesce(
                Concat(
                    F("owner__first_name"),
                    Value(" "),
                    F("owner__last_name"),
                    output_field=CharField(),
                ),
                Value(""),
            )
        ),
    )


def _first(params: Mapping, name: str) -> str:
    values = params.get(name) or []
    if isinstance(values, str):
        return values.strip()
    return (values[-1] if values else "").strip()


def _date(text: str, errors: dict, name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors[name] = ["Give a date as YYYY-MM-DD."]
        return None


def _amount(text: str, errors: dict, name: str) -> Decimal | None:
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or not 0 <= value <= LARGEST_AMOUNT:
        errors[name] = ["Give an amount from 0 to 999,999,999,999.99."]
        return None
    return value


def search(queryset, query: str):
    """Every word in the deal's name, or its contact's or organization's searchable text
    (names, emails, phones)."""
    query = query[:SEARCH_LIMIT]
    terms = query_terms(query)
    # The deal's name is not folded as the search columns are: a word as typed finds "Café"
    # and "Müller" in it, which the folded "cafe" and "muller" would not.
    words = query.replace("\x00", " ").split()[:MOST_WORDS]
    typed = words if len(words) == len(terms) else [""] * len(terms)
    for term, word in zip(terms, typed, strict=True):
        in_name = Q(name__icontains=term)
        if word and word != term:
            in_name |= Q(name__icontains=word)
        queryset = queryset.filter(
            in_name
            | Q(contact__search_text__contains=term)
            | Q(organization__search_text__contains=term)
        )
    return queryset


def filter_deals(actor, params: Mapping):
    """The active deals `actor` may see that match the list's filter `params` (a mapping of
    name → list of values, as a query string parses; a plain string value is taken as is).

    Filters: `pipeline`, `stage` (ids), `owner` ("me", "none" or a user id), `status` (open,
    won, lost), `close_from` / `close_to` (expected close, inclusive), `amount_min` /
    `amount_max` (in the deal's own currency), `q` (words of the name, contact or
    organization). Paging and sorting parameters are ignored. A bad value raises a
    ValidationError naming its parameter, and nothing is filtered by half.
    """
    first = {name: _first(params, name) for name in params if name not in LIST_STATE}
    deals = Deal.objects.visible_to(actor).active()
    errors: dict[str, list[str]] = {}
    for name in ("pipeline", "stage"):
        if first.get(name):
            pk = id_from_text(first[name])
            if pk is None:
                errors[name] = [f"Choose a {name} from the list."]
            else:
                deals = deals.filter(**{f"{name}_id": pk})
    owner = first.get("owner", "")
    if owner == "me":
        deals = deals.filter(owner_id=getattr(actor, "pk", None))
    elif owner == "none":
        deals = deals.filter(owner__isnull=True)
    elif owner:
        pk = id_from_text(owner)
        if pk is None:
            errors["owner"] = ["Choose “me”, “nobody” or a person from the list."]
        else:
            deals = deals.filter(owner_id=pk)
    status = first.get("status", "")
    if status:
        if status not in DealStatus.values:
            errors["status"] = [f"Choose one of: {', '.join(DealStatus.labels).lower()}."]
        else:
            deals = deals.filter(status=status)
    close_from = (
        _date(first["close_from"], errors, "close_from") if first.get("close_from") else None
    )
    close_to = _date(first["close_to"], errors, "close_to") if first.get("close_to") else None
    if close_from and close_to and close_from > close_to:
        errors["close_to"] = ["The end of the range comes before its start."]
    if close_from:
        deals = deals.filter(expected_close_date__gte=close_from)
    if close_to:
        deals = deals.filter(expected_close_date__lte=close_to)
    low = _amount(first["amount_min"], errors, "amount_min") if first.get("amount_min") else None
    high = _amount(first["amount_max"], errors, "amount_max") if first.get("amount_max") else None
    if low is not None and high is not None and low > high:
        errors["amount_max"] = ["The largest amount is below the smallest."]
    if low is not None:
        deals = deals.filter(amount__gte=low)
    if high is not None:
        deals = deals.filter(amount__lte=high)
    if first.get("q"):
        deals = search(deals, first["q"])
    if errors:
        raise ValidationError(errors)
    return deals


def is_filtered(params: Mapping) -> bool:
    return any(_first(params, name) for name in FILTER_NAMES)
