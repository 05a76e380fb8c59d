"""Where a won sale becomes revenue, for apps that may not import the one that keeps orders.

`commerce` keeps the orders and registers its keeper here from AppConfig.ready(); `sales` (a
sibling domain, which must not import commerce) hands over each won deal with `record_sale` and
takes it back with `withdraw_sale`, inside the transaction that moved the deal, so a deal is won
exactly when its order exists (both commit or neither). Without a keeper nothing is recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class SoldLine:
    """One line of a sale; `unit_price` is the price sold at, after any discount."""

    product_id: int
    description: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class Sale:
    """A won deal as revenue of its contact and organization, on the day it closed.

    `lines` are the deal's product lines; without them the sale is one line of `amount`.
    """

    deal_id: int
    name: str
    contact_id: int | None
    organization_id: int | None
    closed_at: dt.datetime
    currency: str
    amount: Decimal
    lines: tuple[SoldLine, ...] = ()


@dataclass(frozen=True)
class SaleKeeper:
    """`record(sale, actor)` writes or refreshes the sale's revenue (idempotent, one per deal);
    `withdraw(deal_id, actor, reason)` removes it, if any."""

    record: Callable[[Sale, object], object]
    withdraw: Callable[[int, object, str], object]


_keeper: SaleKeeper | None = None


def register_sale_keeper(keeper: SaleKeeper) -> None:
    global _keeper
    _keeper = keeper


def record_sale(sale: Sale, *, actor) -> None:
    """Book `sale` as revenue (again, with its current facts, when it already is)."""
    if _keeper is not None:
        _keeper.record(sale, actor)


def withdraw_sale(deal_id: int, *, actor, reason: str) -> None:
    """The deal is no longer won: its revenue goes (nothing happens when it had none)."""
    if _keeper is not None:
        _keeper.withdraw(deal_id, actor, reason)
