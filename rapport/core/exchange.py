"""Where the company currency and its exchange rates come from, for apps that may not import
the one that keeps them.

`commerce` keeps the rates and registers its loader here from AppConfig.ready(); `sales` (a
sibling domain, which must not import commerce) asks `load_rate_book()` once per request and
converts in Python over the rows it has already read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from django.conf import settings

from rapport.core.currency import RateBook

_loader: Callable[..., RateBook] | None = None


def register_rate_book_loader(loader: Callable[..., RateBook]) -> None:
    """`loader(currencies=None, first=None, last=None)` returns a RateBook holding at least the
    rates that serve amounts in `currencies` dated `first`…`last`."""
    global _loader
    _loader = loader


def load_rate_book(
    *,
    currencies: Iterable[str] | None = None,
    first: dt.date | None = None,
    last: dt.date | None = None,
) -> RateBook:
    """The company currency and the rates to it that amounts in `currencies` dated between
    `first` and `last` need (every rate when no bound is given; none when no app keeps any)."""
    if _loader is None:
        return RateBook(company_currency=settings.RAPPORT_CURRENCY)
    return _loader(currencies=currencies, first=first, last=last)
