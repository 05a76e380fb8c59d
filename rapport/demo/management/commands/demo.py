"""`rapport demo`: fill the database with a believable demo business."""

import random
import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from rich.console import Console

from rapport.contacts.models import Contact
from rapport.demo.builder import DemoPartFailed, available_parts, build_demo


class Command(BaseCommand):
    help = (
        "Build a demo business (staff, organizations, contacts, two years of interactions) "
        "through the real services. Refuses a database that already has contacts unless "
        "--force; --if-empty skips quietly instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=3000, help="How many contacts.")
        parser.add_argument("--seed", type=int, default=None, help="Seed for a repeatable run.")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when contacts already exist."
        )
        parser.add_argument(
            "--force", action="store_true", help="Add demo data to a database that has contacts."
        )
        parser.add_argument(
            "--parts",
            default="",
            help="Comma-separated parts to run (default: every part that exists), e.g. people,sales.",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")

    def handle(self, *args, contacts, seed, if_empty, force, parts, no_progress, **options):
        if contacts < 1 or contacts > 2_000_000:
            raise CommandError("--contacts must be between 1 and 2,000,000.")
        available = available_parts()
        chosen = [name.strip() for name in parts.split(",") if name.strip()] or available
        unknown = [name for name in chosen if name not in available]
        if unknown:
            raise CommandError(
                f"No demo part named {', '.join(unknown)}; there are: {', '.join(available)}."
            )
        if chosen[0] != "people":
            # Every later part builds on the staff and contacts the people part makes.
            chosen = ["people", *[name for name in chosen if name != "people"]]
        existing = Contact.objects.count()
        if existing and if_empty:
            self.stdout.write(f"Demo data skipped: the database already has {existing} contacts.")
            return
        if existing and not force:
            raise CommandError(
                f"The database already has {existing} contacts. Use --force to add demo data "
                "anyway, or --if-empty to skip."
            )
        seed = seed if seed is not None else random.SystemRandom().randrange(1, 1_000_000)
        # No wrapping: the summary lines are read in logs and by tests as whole lines.
        console = Console(file=self.stdout._out, highlight=False, soft_wrap=True)
        console.print(
            f"Building the demo business: {contacts} contacts, seed {seed} "
            f"(parts: {', '.join(chosen)})"
        )
        started = time.monotonic()
        try:
            ctx, login = build_demo(
                contacts=contacts,
                seed=seed,
                console=console,
                parts=chosen,
                show_progress=not no_progress and options.get("verbosity", 1) > 0,
            )
        except DemoPartFailed as exc:
            raise CommandError(
                f"{exc}. The parts before it are in the database (run with --traceback to see "
                "where it failed; `rapport demo --force` adds a fresh run once it is fixed)."
            ) from exc
        except ValidationError as exc:
            detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            raise CommandError(f"The demo login was refused: {detail}") from exc
        console.print(
            f"[green]Demo ready[/green] in {time.monotonic() - started:.0f} s: "
            f"{len(ctx.users)} staff, {len(ctx.organizations)} organizations, "
            f"{len(ctx.contacts)} contacts."
        )
        if login.created:
            console.print(
                f"  Sign in as [bold]{login.username}[/bold] / [bold]{login.password}[/bold]"
            )
        else:
            console.print(
                f"  Sign in as [bold]{login.username}[/bold] (this user existed already; "
                "its password was left unchanged)"
            )
        staff = ", ".join(user.username for user in ctx.users[:3])
        console.print(f"  The staff ({staff}, …) use the same password as the demo login.")
