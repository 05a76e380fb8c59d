"""What every part of the demo builder shares: randomness, the clock, the people and records so far.

The builder runs `rapport.demo.people.build(ctx)` first and then, when they exist, the `build(ctx)`
of `rapport.demo.sales`, `rapport.demo.commerce`, `rapport.demo.analytics`,
`rapport.demo.frameworks` and `rapport.demo.mail`. Each part reads what earlier parts left on the context and may add to
`extras` for the parts after it. Everything random comes from `ctx.rng` / `ctx.faker` (both seeded
from `--seed`), and every "when" is relative to `ctx.now`, so a seeded run is reproducible.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from faker import Faker

    from rapport.accounts.models import Role, Team, User
    from rapport.contacts.models import Contact, Organization

# Team keys the people part creates; other parts look teams up by these.
SALES_NORTH = "sales-north"
SALES_SOUTH = "sales-south"
MARKETING = "marketing"
SERVICE = "service"
SALES_TEAMS = (SALES_NORTH, SALES_SOUTH)

# Role keys the people part creates.
ROLE_ADMINISTRATOR = "administrator"
ROLE_SALES_REP = "sales_rep"
ROLE_MARKETER = "marketer"
ROLE_SERVICE_AGENT = "service_agent"
ROLE_MANAGER = "manager"
ROLE_READ_ONLY = "read_only"

# Demo activity happens within this many days before `now`.
HISTORY_DAYS = 730


@dataclass
class DemoContext:
    """The state one demo run carries from part to part.

    `contacts` and `organizations` hold model instances (not re-read from the database), in
    creation order. `contacts_by_stage` groups contact ids by lifecycle stage once people has run.
    `extras` is where a later part leaves what the parts after it need (e.g. "products").
    """

    rng: random.Random
    faker: Faker
    now: datetime
    scale: int
    admin: User
    console: Console
    users: list[User] = field(default_factory=list)
    teams: dict[str, Team] = field(default_factory=dict)
    # Team key -> the demo users in that team (a user may sit in several).
    team_members: dict[str, list[User]] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    organizations: list[Organization] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    contacts_by_stage: dict[str, list[int]] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    show_progress: bool = True
    batch_size: int = 250

    # -- progress --------------------------------------------------------------------------

    @contextlib.contextmanager
    def progress(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        """A progress bar for one step: `with ctx.progress("Contacts", n) as advance: advance(1)`."""
        if not self.show_progress:
            yield lambda step=1: None
            return
        bar = Progress(
            TextColumn("  {task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        with bar:
            task = bar.add_task(label, total=total)
            yield lambda step=1: bar.advance(task, step)

    def say(self, message: str) -> None:
        if self.show_progress:
            self.console.print(message)

    # -- people ----------------------------------------------------------------------------

    def members_of(self, team_key: str) -> list[User]:
        """The demo users in one team (by key, e.g. `SALES_NORTH`), administrator excluded."""
        return list(self.team_members.get(team_key, ()))

    def sales_reps(self) -> list[User]:
        """The sales teams' members who may work deals and leads (no read-only seat)."""
        return [
            user for key in SALES_TEAMS for user in self.members_of(key) if not user.is_read_only
        ]

    def pick_user(self, team_key: str | None = None) -> User:
        """A random demo user who may own records, from one team when `team_key` is given.

        Read-only users (the manager, the read-only seat) never own anything: they may not be
        given a record, so they are never picked."""
        pool = self.members_of(team_key) if team_key else self.users
        writers = [user for user in pool if not user.is_read_only]
        fallback = [user for user in self.users if not user.is_read_only]
        return self.rng.choice(writers or fallback or [self.admin])

    # -- time ------------------------------------------------------------------------------

    def moment(self, days_ago_max: float = HISTORY_DAYS, days_ago_min: float = 0) -> datetime:
        """A believable working moment in the past: a weekday, 8:00–18:00, never after `now`."""
        for _ in range(20):
            day = self.now - timedelta(days=self.rng.uniform(days_ago_min, days_ago_max))
            if day.weekday() >= 5:
                continue
            at = day.replace(
                hour=self.rng.randint(8, 17),
                minute=self.rng.randrange(0, 60, 5),
                second=0,
                microsecond=0,
            )
            if at <= self.now:
                return at
        return self.now - timedelta(days=days_ago_min)

    def working_time(self, at: datetime) -> datetime:
        """`at` moved into working hours (8:00-18:00) on the same or the previous weekday."""
        at = min(at, self.now)
        while at.weekday() >= 5:
            at -= timedelta(days=1)
        if at.hour < 8 or at.hour >= 18:
            at = at.replace(hour=self.rng.randint(9, 16), minute=self.rng.randrange(0, 60, 5))
        at = at.replace(second=0, microsecond=0)
        return at if at <= self.now else self.now

    def moment_after(self, start: datetime, days_max: float) -> datetime:
        """A working moment within `days_max` days after `start`, never after `now`."""
        span = max(0.0, min(days_max, (self.now - start).total_seconds() / 86400))
        ago_min = max(0.0, (self.now - start).total_seconds() / 86400 - span)
        ago_max = (self.now - start).total_seconds() / 86400
        return max(start, self.moment(days_ago_max=ago_max, days_ago_min=ago_min))


__all__ = [
    "HISTORY_DAYS",
    "MARKETING",
    "ROLE_ADMINISTRATOR",
    "ROLE_MANAGER",
    "ROLE_MARKETER",
    "ROLE_READ_ONLY",
    "ROLE_SALES_REP",
    "ROLE_SERVICE_AGENT",
    "SALES_NORTH",
    "SALES_SOUTH",
    "SALES_TEAMS",
    "SERVICE",
    "DemoContext",
]
