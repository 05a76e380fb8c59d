"""Run the demo parts in order: people first, then whichever later parts exist.

A part is a module `rapport.demo.<name>` with `build(ctx: DemoContext) -> None`. The parts after
people are written by later issues (deals, orders, analytics snapshots, CRM-model scorecards);
a part whose module does not exist yet is skipped, so the demo grows as the product does.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import random
import time
from dataclasses import dataclass

from django.utils import timezone
from faker import Faker
from rich.console import Console

from rapport.contacts.models import Contact
from rapport.core.context import work_context
from rapport.demo import vocabulary as words
from rapport.demo.context import DemoContext
from rapport.demo.people import ensure_administrator
from rapport.reports import caching
from rapport.reports.builtin_dashboards import ensure_builtin_dashboards

PARTS = ("people", "sales", "commerce", "analytics", "frameworks", "mail")

DEFAULT_USERNAME = "demo"
DEFAULT_PASSWORD = "rapport-demo"  # noqa: S105 - the published demo login, not a secret


class DemoPartFailed(Exception):
    """A demo part raised; the parts before it are committed, the failing one may be partial."""

    def __init__(self, part: str, error: Exception):
        super().__init__(f"the demo part {part!r} failed: {type(error).__name__}: {error}")
        self.part = part


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    created: bool


def demo_login() -> tuple[str, str]:
    """The demo administrator's username and password (RAPPORT_DEMO_USER / _PASSWORD)."""
    return (
        os.environ.get("RAPPORT_DEMO_USER", DEFAULT_USERNAME),
        os.environ.get("RAPPORT_DEMO_PASSWORD", DEFAULT_PASSWORD),
    )


def available_parts() -> list[str]:
    return [name for name in PARTS if importlib.util.find_spec(f"rapport.demo.{name}") is not None]


def build_demo(
    *,
    contacts: int,
    seed: int,
    console: Console | None = None,
    show_progress: bool = True,
    parts: list[str] | None = None,
    source: str = "cli",
) -> tuple[DemoContext, DemoLogin]:
    """Build the demo business into the configured database and return what was made.

    Adds to whatever is there (existing demo staff, roles and fields are reused). Every part's
    writes go through the services, so their audit records carry `source` ("cli" from the
    command, "task" from the worker).
    """
    console = console or Console()
    username, password = demo_login()
    # Duplicate checks wait for the one full detection at the end (`detect_duplicates`),
    # where checking each of thousands of new contacts one by one cost a fifth of the build.
    with work_context(source=source, checks_deferred=True), caching.held():
        admin, created = ensure_administrator(username=username, password=password)
        faker = Faker([spec[0] for spec in words.COUNTRIES.values()])
        faker.seed_instance(seed)
        ctx = DemoContext(
            rng=random.Random(seed),
            faker=faker,
            now=timezone.now(),
            scale=contacts,
            admin=admin,
            console=console,
            show_progress=show_progress,
        )
        # The staff sign in with the demo password too, so scoping can be tried from any seat.
        ctx.extras["password"] = password
        for name in parts if parts is not None else available_parts():
            module = importlib.import_module(f"rapport.demo.{name}")
            started = time.monotonic()
            ctx.say(f"[bold]{name}[/bold]")
            try:
                module.build(ctx)
            except Exception as exc:
                raise DemoPartFailed(name, exc) from exc
            ctx.say(f"  [dim]{name} done in {time.monotonic() - started:.1f} s[/dim]")
        detect_duplicates(ctx)
        route_unowned_leads(ctx)
        # The role dashboards are otherwise made on the first visit to Home: the demo's are
        # there for the API and for scheduling at once.
        ensure_builtin_dashboards()
    return ctx, DemoLogin(username=username, password=password, created=created)


def detect_duplicates(ctx: DemoContext) -> None:
    """Run duplicate detection over what the demo built, unless a part already did (the CRM
    models' part runs it before measuring): the Duplicates page and the suspected-duplicate
    figures must not wait for the first night."""
    from rapport.data_exchange import detection
    from rapport.data_exchange.choices import DetectionTrigger

    if detection.ran_since(ctx.now):
        return
    scans = detection.run_all(trigger=DetectionTrigger.DEMO)
    ctx.say(
        "  duplicate detection: "
        + ", ".join(f"{scan.suspected} suspected {scan.entity} pairs" for scan in scans)
    )


def route_unowned_leads(ctx: DemoContext) -> None:
    """Score and assign the leads nobody owns yet: the build asked the sales app for no task
    per record (`checks_deferred`), so what the worker would have done is done here, once."""
    from rapport.contacts.choices import LEAD_STAGES
    from rapport.sales.services.leads import process_new_leads

    unowned = list(
        Contact.objects.filter(
            lifecycle_stage__in=LEAD_STAGES, owner__isnull=True, is_archived=False
        ).values_list("pk", flat=True)
    )
    if unowned:
        process_new_leads(contact_ids=unowned)
        ctx.say(f"  {len(unowned)} unowned leads scored and sent to the assignment rules")


def database_is_empty() -> bool:
    return not Contact.objects.exists()
