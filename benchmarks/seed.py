"""Fast bulk seeding for the benchmarks: many contacts in minutes, not hours.

The services write one contact at a time with its audit record and events — right for users,
far too slow for a million rows. Here rows are bulk-inserted in batches, with the derived
columns the services maintain (`search_text`, `primary_email`, `primary_phone` and the
organization's `search_text`) computed by the same rules, and `check_against_services()` proves
they match what the services would have written. Seeded rows have no audit records: the
benchmarks measure reads.

Data goes into DATABASE_URL when set, else into its own SQLite file under var/bench/ — never
the demo database. A database is only seeded when it has no contacts or was seeded by a
benchmark before (it then holds the user `bench-admin`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "var" / "bench"
BENCH_ADMIN = "bench-admin"
BENCH_PASSWORD = "bench-password-not-secret"  # a local benchmark account, never deployed
BATCH = 5000
COUNTRIES = ["DE", "GB", "FR", "NL", "US", "ES", "IT", "SE"]
STAGES = [
    ("subscriber", 17),
    ("lead", 22),
    ("marketing_qualified", 13),
    ("sales_qualified", 9),
    ("opportunity", 7),
    ("customer", 17),
    ("loyal", 6),
    ("advocate", 3),
    ("churned", 6),
]
TAG_NAMES = [
    "Newsletter",
    "Webinar attendee",
    "Trade show",
    "Decision maker",
    "Budget holder",
    "Technical buyer",
    "Champion",
    "Upsell potential",
    "Renewal due",
    "Reference customer",
    "Churn risk",
    "Partner referral",
]


def database_url() -> str:
    """The benchmark database: DATABASE_URL, or a SQLite file of its own under var/bench/."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{BENCH_DIR / 'bench.sqlite3'}"


def own_database_url(suffix: str) -> str:
    """A benchmark's own database, so its writes never disturb the shared seeded one: on
    PostgreSQL DATABASE_URL's database name + "_<suffix>", else var/bench/bench_<suffix>.sqlite3."""
    import urllib.parse

    base = os.environ.get("DATABASE_URL", "")
    if base.startswith(("postgres://", "postgresql://")):
        parts = urllib.parse.urlsplit(base)
        name = parts.path.lstrip("/") or "rapport"
        if not name.endswith(f"_{suffix}"):
            name = f"{name}_{suffix}"
        return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
    return f"sqlite:///{BENCH_DIR / f'bench_{suffix}.sqlite3'}"


def ensure_postgres_database(url: str) -> None:
    """Create the PostgreSQL database `url` names when it does not exist yet."""
    import urllib.parse

    import psycopg

    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def configure_own(suffix: str) -> str:
    """Point Django at a benchmark's own, fresh database (`own_database_url`; a SQLite file is
    started empty), with tasks on the database queue as in production, and migrate it."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    url = own_database_url(suffix)
    if url.startswith("postgres"):
        ensure_postgres_database(url)
    else:
        for ending in ("", "-wal", "-shm"):
            Path(f"{BENCH_DIR / f'bench_{suffix}.sqlite3'}{ending}").unlink(missing_ok=True)
    os.environ["RAPPORT_TASKS_BACKEND"] = "database"
    _setup(url)
    return url


def configure() -> str:
    """Point Django at the benchmark database, set it up, and bring the schema up to date."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    url = database_url()
    if url.startswith("postgres"):
        ensure_postgres_database(url)
    _setup(url)
    return url


def _setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "django_settings"
    os.environ["RAPPORT_VAR_DIR"] = str(BENCH_DIR)
    os.environ.setdefault("RAPPORT_LOG_LEVEL", "WARNING")
    # Child processes (gunicorn, workers) find the settings module and Rapport the same way.
    here = str(Path(__file__).resolve().parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (here, str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    for path in (here, str(REPO_ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def engine() -> str:
    from django.db import connection

    return connection.vendor  # "sqlite" or "postgresql"


def _ascii(text: str) -> str:
    """Lower-case ASCII letters, digits, dots and hyphens: usable in an address or a domain
    (Faker's names carry spaces, apostrophes and commas such as "Bourgondie, van")."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in plain if ch.isalnum() or ch in ".-")


@dataclass
class Pools:
    """Names, numbers and domains drawn once, then combined: Faker per row is too slow."""

    first_names: list[str]
    last_names: list[str]
    phones: dict[str, list[str]]


def _pools(rng: random.Random) -> Pools:
    import phonenumbers
    from faker import Faker

    faker = Faker(["en_US", "en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT", "sv_SE"])
    faker.seed_instance(rng.randrange(1 << 30))
    first = sorted({faker.first_name() for _ in range(2500)})
    last = sorted({faker.last_name() for _ in range(5000)})
    phones = {}
    for country in COUNTRIES:
        example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
        national = str(example.national_number)
        keep = max(2, len(national) - 6)
        numbers = set()
        while len(numbers) < 400:
            digits = national[:keep] + "".join(
                str(rng.randrange(10)) for _ in range(len(national) - keep)
            )
            candidate = phonenumbers.parse(f"+{example.country_code}{digits}")
            if phonenumbers.is_valid_number(candidate):
                numbers.add(
                    phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
                )
        phones[country] = sorted(numbers)
    return Pools(first_names=first, last_names=last, phones=phones)


def contact_search_text(
    first: str, last: str, emails: list[str], phones: list[str], organizations: list[str]
) -> str:
    """The contact's search text by the rule of `contacts.services.contact_search_text`.

    Emails, phones and organizations in the order the services read them: primary first.
    """
    from rapport.contacts.identity import phone_search_digits
    from rapport.contacts.search import search_text

    parts = [first, last, *emails, *[phone_search_digits(p) for p in phones], *organizations]
    return search_text(parts)


def organization_search_text(name: str, domain: str) -> str:
    """The organization's search text by the rule of `contacts.services._refresh_org_search`."""
    from rapport.contacts.search import search_text

    return search_text([name, domain])


def bench_staff():
    """The benchmark's administrator and reps, created through the services when missing."""
    from rapport.accounts import services as accounts
    from rapport.accounts.models import Role, User

    admin = User.objects.filter(username=BENCH_ADMIN).first()
    if admin is None:
        role = Role.objects.filter(name="Bench administrator").first() or accounts.create_role(
            actor=None, name="Bench administrator", scopes={}, is_admin=True
        )
        admin = accounts.create_user(
            actor=None,
            username=BENCH_ADMIN,
            email="bench-admin@bench.example",
            password=BENCH_PASSWORD,
            role=role,
        )
    reps = list(User.objects.filter(username__startswith="bench-rep-").order_by("id"))
    if not reps:
        rep_role = accounts.create_role(
            actor=admin, name="Bench rep", scopes={"contacts": "team", "sales": "team"}
        )
        teams = [
            accounts.create_team(actor=admin, name=f"Bench team {i}", kind="sales")
            for i in range(4)
        ]
        for i in range(20):
            reps.append(
                accounts.create_user(
                    actor=admin,
                    username=f"bench-rep-{i:02d}",
                    email=f"bench-rep-{i:02d}@bench.example",
                    role=rep_role,
                    teams=[teams[i % 4]],
                )
            )
    return admin, reps


def is_bench_database() -> bool:
    from rapport.accounts.models import User
    from rapport.contacts.models import Contact

    return User.objects.filter(username=BENCH_ADMIN).exists() or not Contact.objects.exists()


def _reset(console) -> None:
    """Empty a benchmark database (only ever one that `is_bench_database`)."""
    from django.core.management import call_command

    console.print("  [yellow]emptying the benchmark database to reseed it[/yellow]")
    call_command("flush", interactive=False, verbosity=0)


def seed_contacts(total: int, *, seed: int = 1, console=None) -> dict:
    """Make the benchmark database hold exactly `total` contacts, reusing what is there.

    Returns counts of what exists. Refuses a database that was not seeded by a benchmark.
    """
    from rich.console import Console

    from rapport.contacts.models import Contact

    console = console or Console()
    if not is_bench_database():
        raise SystemExit(
            f"{database_url()} holds contacts that no benchmark made. Point DATABASE_URL at an "
            "empty database for benchmarks (they add and delete rows freely)."
        )
    existing = Contact.objects.count()
    if existing > total:
        _reset(console)
        existing = 0
    if existing == total:
        console.print(f"  reusing the seeded database: {existing:,} contacts")
        return counts()
    _admin, reps = bench_staff()
    rng = random.Random(seed + existing)
    started = time.monotonic()
    _seed(total - existing, rng=rng, reps=reps, console=console, start_index=existing)
    _analyze()
    console.print(
        f"  seeded {total - existing:,} contacts in {time.monotonic() - started:.0f} s ({engine()})"
    )
    return counts()


def counts() -> dict:
    from rapport.contacts.models import Contact, ContactEmail, Organization
    from rapport.interactions.models import Interaction

    return {
        "contacts": Contact.objects.count(),
        "organizations": Organization.objects.count(),
        "emails": ContactEmail.objects.count(),
        "interactions": Interaction.objects.count(),
    }


def _weighted(rng: random.Random, pairs):
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights, k=1)[0]


class RowWriter:
    """Inserts plain rows fast: COPY on PostgreSQL, executemany on SQLite.

    Ids are assigned here (after the table's current maximum) so related rows can point at
    each other before anything is written; `finish()` moves PostgreSQL's sequences past them.
    Values are given per column attribute (`owner_id`, not `owner`); missing ones take the
    model's default.
    """

    def __init__(self, connection):
        self.connection = connection
        self.sqlite = connection.vendor == "sqlite"
        self.next_ids: dict[type, int] = {}
        self.touched: set[type] = set()

    def reserve_ids(self, model, count: int) -> range:
        if model not in self.next_ids:
            with self.connection.cursor() as cursor:
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {model._meta.db_table}")
                self.next_ids[model] = cursor.fetchone()[0] + 1
        start = self.next_ids[model]
        self.next_ids[model] = start + count
        return range(start, start + count)

    def _converters(self, model):
        from django.db import models as m

        fields = list(model._meta.concrete_fields)
        converters = []
        for f in fields:
            if isinstance(f, m.DateTimeField) and self.sqlite:
                # What ops.adapt_datetimefield_value does for an aware time (UTC, naive text),
                # without its per-call setting checks.
                converters.append(
                    lambda v: None if v is None else str(v.astimezone(dt.UTC).replace(tzinfo=None))
                )
            elif isinstance(f, m.JSONField):
                converters.append(lambda v: None if v is None else json.dumps(v))
            else:
                converters.append(None)
        return fields, converters

    def insert(self, model, rows: list[dict]) -> None:
        if not rows:
            return
        fields, converters = self._converters(model)
        defaults = {}
        for f in fields:
            if f.has_default():
                defaults[f.name] = f.get_default()
            elif f.null:
                defaults[f.name] = None
            elif not f.is_relation:
                defaults[f.name] = "" if isinstance(f.get_default(), str) else f.get_default()
        plan = [
            (f.attname, defaults.get(f.name), convert)
            for f, convert in zip(fields, converters, strict=True)
        ]
        tuples = [
            [
                (convert(row.get(key, default)) if convert else row.get(key, default))
                for key, default, convert in plan
            ]
            for row in rows
        ]
        table = model._meta.db_table
        columns = ", ".join(self.connection.ops.quote_name(f.column) for f in fields)
        self.touched.add(model)
        with self.connection.cursor() as cursor:
            if self.sqlite:
                marks = ", ".join("?" for _ in fields)
                cursor.connection.executemany(
                    f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuples
                )
            else:
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for values in tuples:
                        copy.write_row(values)

    def finish(self) -> None:
        if self.sqlite or not self.touched:
            return
        from django.core.management.color import no_style

        statements = self.connection.ops.sequence_reset_sql(no_style(), list(self.touched))
        with self.connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)


def _seed(count: int, *, rng: random.Random, reps, console, start_index: int) -> None:
    from django.db import connection, transaction
    from django.utils import timezone
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from rapport.contacts.models import Organization, Tag

    pools = _pools(rng)
    tags = [Tag.objects.get_or_create(name=name)[0] for name in TAG_NAMES]
    now = timezone.now()
    writer = RowWriter(connection)

    # One organization per ten contacts, created up front so contacts can join them.
    org_count = max(10, count // 10)
    organizations = []
    ids = writer.reserve_ids(Organization, org_count)
    for number, pk in enumerate(ids, start=start_index // 10):
        last = rng.choice(pools.last_names)
        kind = rng.choice(["Systems", "Logistics", "Foods", "Partners", "Retail", "Labs"])
        name = f"{last} {kind} {rng.choice(['GmbH', 'Ltd', 'SA', 'BV', 'AB', 'Inc'])}"
        domain = f"{_ascii(last).replace(' ', '')}{number}.example"
        organizations.append(
            {
                "id": pk,
                "name": name,
                "domain": domain,
                "website": f"https://{domain}/",
                "industry": rng.choice(["Software", "Retail", "Manufacturing", "Logistics"]),
                "size": rng.choice(["1-10", "11-50", "51-200", "201-1000", "1001+"]),
                "country": rng.choice(COUNTRIES),
                "owner_id": rng.choice(reps).pk,
                "search_text": organization_search_text(name, domain),
                "created_at": now,
                "updated_at": now,
            }
        )
    with transaction.atomic():
        writer.insert(Organization, organizations)

    progress = Progress(
        "  {task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("contacts", total=count)
        for start in range(0, count, BATCH):
            size = min(BATCH, count - start)
            with transaction.atomic():
                _seed_batch(
                    writer,
                    size,
                    index=start_index + start,
                    rng=rng,
                    pools=pools,
                    reps=reps,
                    organizations=organizations,
                    tags=tags,
                    now=now,
                )
            progress.advance(task, size)
    writer.finish()


def _seed_batch(writer, size, *, index, rng, pools, reps, organizations, tags, now):
    from rapport.contacts.models import (
        Contact,
        ContactEmail,
        ContactPhone,
        LifecycleChange,
        Membership,
    )
    from rapport.interactions.models import Interaction

    tag_through = Contact.tags.through
    contact_ids = writer.reserve_ids(Contact, size)
    contacts, emails, phones, memberships, tag_rows, changes, interactions = ([] for _ in range(7))
    for offset, contact_id in enumerate(contact_ids):
        number = index + offset
        first = rng.choice(pools.first_names)
        last = rng.choice(pools.last_names)
        organization = rng.choice(organizations) if rng.random() < 0.8 else None
        country = organization["country"] if organization else rng.choice(COUNTRIES)
        local = f"{_ascii(first)}.{_ascii(last)}".replace(" ", "").replace("'", "")
        domain = organization["domain"] if organization else "mail.example"
        contact_emails = [f"{local}{number}@{domain}"]
        if rng.random() < 0.15:
            contact_emails.append(f"{local}.{number}@home.example")
        contact_phones = []
        if rng.random() < 0.7:
            contact_phones.append(rng.choice(pools.phones[country]))
            if rng.random() < 0.15:
                second = rng.choice(pools.phones[country])
                if second != contact_phones[0]:
                    contact_phones.append(second)
        stage = _weighted(rng, STAGES)
        owner = rng.choice(reps) if rng.random() < 0.92 else None
        newest = None
        for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4, 6])):
            at = now - dt.timedelta(days=rng.uniform(0, 700))
            newest = at if newest is None or at > newest else newest
            kind = rng.choice(["call", "email", "meeting", "note"])
            interactions.append(
                {
                    "kind": kind,
                    "channel": {"call": "phone", "email": "email", "meeting": "video"}.get(
                        kind, "internal"
                    ),
                    "direction": "internal" if kind == "note" else "outbound",
                    "occurred_at": at,
                    "subject": f"{kind.title()} with {first}",
                    "body": "Benchmark interaction.",
                    "contact_id": contact_id,
                    "organization_id": organization["id"] if organization else None,
                    "actor_id": owner.pk if owner else None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        contacts.append(
            {
                "id": contact_id,
                "first_name": first,
                "last_name": last,
                "primary_email": contact_emails[0],
                "primary_phone": contact_phones[0] if contact_phones else "",
                "country": country,
                "lifecycle_stage": stage,
                "lifecycle_changed_at": now,
                "owner_id": owner.pk if owner else None,
                "source": rng.choice(["web_form", "import", "manual", "referral", "campaign"]),
                "custom_fields": {},
                "is_archived": False,
                "last_touched_at": newest,
                "search_text": contact_search_text(
                    first,
                    last,
                    contact_emails,
                    contact_phones,
                    [organization["name"]] if organization else [],
                ),
                "created_at": now,
                "updated_at": now,
            }
        )
        emails += [
            {"contact_id": contact_id, "email": e, "label": "work", "is_primary": i == 0}
            for i, e in enumerate(contact_emails)
        ]
        phones += [
            {"contact_id": contact_id, "number": p, "label": "work", "is_primary": i == 0}
            for i, p in enumerate(contact_phones)
        ]
        if organization is not None:
            memberships.append(
                {
                    "contact_id": contact_id,
                    "organization_id": organization["id"],
                    "role": "",
                    "is_primary": True,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        tag_rows += [
            {"contact_id": contact_id, "tag_id": t.pk} for t in rng.sample(tags, rng.randint(0, 2))
        ]
        changes.append(
            {
                "contact_id": contact_id,
                "from_stage": "",
                "to_stage": stage,
                "changed_at": now,
                "reason": "created",
            }
        )
    for model, rows in (
        (Contact, contacts),
        (ContactEmail, emails),
        (ContactPhone, phones),
        (Membership, memberships),
        (tag_through, tag_rows),
        (LifecycleChange, changes),
        (Interaction, interactions),
    ):
        if model is not Contact:
            for row, pk in zip(rows, writer.reserve_ids(model, len(rows)), strict=True):
                row["id"] = pk
        writer.insert(model, rows)


def _analyze() -> None:
    """Fresh planner statistics, as a maintained database has them after a bulk load."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def check_against_services(sample: int = 200) -> list[str]:
    """Contacts whose seeded search columns differ from what the services compute; [] is good."""
    from rapport.contacts.models import Contact, Organization
    from rapport.contacts.services import contact_search_text as service_text

    problems = []
    ids = list(Contact.objects.order_by("?").values_list("pk", flat=True)[:sample])
    for contact in Contact.objects.filter(pk__in=ids):
        expected = service_text(contact)
        primary_email = contact.emails.filter(is_primary=True).values_list("email", flat=True)
        primary_phone = contact.phones.filter(is_primary=True).values_list("number", flat=True)
        if contact.search_text != expected:
            problems.append(f"contact {contact.pk}: {contact.search_text!r} != {expected!r}")
        if contact.primary_email != (primary_email.first() or ""):
            problems.append(f"contact {contact.pk}: primary_email differs")
        if contact.primary_phone != (primary_phone.first() or ""):
            problems.append(f"contact {contact.pk}: primary_phone differs")
    for org in Organization.objects.order_by("?")[:50]:
        if org.search_text != organization_search_text(org.name, org.domain):
            problems.append(f"organization {org.pk}: search_text differs")
    return problems
