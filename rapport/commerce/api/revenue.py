"""Which orders count as revenue for analytics and the value KPIs: everyone signed in reads;
administrators write (the service refuses anyone else)."""

from __future__ import annotations

from typing import Literal

from ninja import Router, Schema
from pydantic import ConfigDict, Field

from rapport.commerce import revenue

router = Router(tags=["commerce"])


class RevenueSettingsOut(Schema):
    sources: str = Field(description='"both", "shop" (shop orders only) or "deals" (won deals).')
    counted_kinds: list[str] = Field(description="The order kinds counted as revenue.")


class RevenueSettingsIn(Schema):
    model_config = ConfigDict(extra="forbid")
    sources: Literal["both", "shop", "deals"]


def _out() -> dict:
    return {"sources": revenue.revenue_sources(), "counted_kinds": list(revenue.counted_kinds())}


@router.get("/revenue-settings", response=RevenueSettingsOut)
def get_revenue_settings(request):
    return _out()


@router.put("/revenue-settings", response=RevenueSettingsOut)
def put_revenue_settings(request, payload: RevenueSettingsIn):
    """Count shop orders, won deals or both as revenue (administrators)."""
    revenue.set_revenue_sources(actor=request.auth, sources=payload.sources)
    return _out()
