"""Identity at scale: import a contacts CSV end to end, beside the database's own bulk load of
the same rows, then find the duplicates planted in it.

1. Generates N contacts (default 100,000; --rows 1000000 for the full run) with duplicates
   planted at a known rate (gen_contacts_csv.py; cached under var/bench/).
2. Loads the same rows the raw way — parsed with the csv module and written with COPY
   (PostgreSQL) or executemany (SQLite) into the same tables (organizations, contacts, emails,
   phones, external ids, memberships) — inside a transaction that is then rolled back.
3. Imports the file through the importer, as `rapport import` does: encoding and delimiter
   detection, auto-mapping, validation and normalization (E.164 phones), matching by external
   id, email, phone rules and earlier rows, batches of 2,000 in their own transactions, audit
   records, per-row history for undo. Rows per second, and the ratio to the raw load.
4. Finds the duplicates among the imported contacts (read from the database, blocked and
   scored, as the nightly scan does): seconds, and precision and recall against the planted
   duplicates. Rows the import already folded into one contact (same email) count as found.
   The same detection over the generated records in memory is reported beside it.

Runs in a database of its own: var/bench/identity.sqlite3, or, with DATABASE_URL pointing at
PostgreSQL, a database named after it with "_identity" appended (dropped and created afresh).

    python benchmarks/run.py identity                      # 100,000 rows, SQLite
    python benchmarks/run.py identity --rows 1000000
    python benchmarks/run.py identity --rows 1000000 --detection-only   # no import, detection
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rapport_bench python benchmarks/run.py identity
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
BENCH_DIR = REPO_ROOT / "var" / "bench"
sys.path.insert(0, str(HERE))

import gen_contacts_csv as generator  # noqa: E402 - benchmarks/ is not a package

AIM_IMPORT_RATIO = 0.25
AIM_PRECISION = AIM_RECALL = 0.95
AIM_DETECTION_SECONDS_1M = 120


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import urllib.parse

        parts = urllib.parse.urlsplit(url)
        name = parts.path.lstrip("/") or "rapport"
        if not name.endswith("_identity"):
            name = f"{name}_identity"
        return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
    return f"sqlite:///{BENCH_DIR / 'identity.sqlite3'}"


def _fresh_database(url: str) -> None:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import urllib.parse

    import psycopg

    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def configure(url: str) -> None:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "django_settings"
    os.environ["RAPPORT_VAR_DIR"] = str(BENCH_DIR)
    # Tasks other apps queue in reaction to new contacts (lead scoring…) are queued, not run,
    # as with `rapport serve`: their cost belongs to the worker, not to the import.
    os.environ["RAPPORT_TASKS_BACKEND"] = "database"
    os.environ.setdefault("RAPPORT_LOG_LEVEL", "WARNING")
    for path in (str(HERE), str(REPO_ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


class _Rollback(Exception):
    pass


def raw_load(path: Path, *, keep: bool = False, searchable: bool = True) -> tuple[int, float]:
    """The same rows written the database's own fast way, then rolled back: (rows, seconds).

    A contact row carries its search column (name, email, phone and organization, folded; on
    PostgreSQL a trigram index reads it), as every writer of contacts stores it. Without
    `searchable` it is left empty, as this baseline did until 2026-12-04: the trigram index
    then has nothing to index, which made the baseline about a third cheaper on PostgreSQL.

    With `keep`, the rows stay (to seed a database for detection alone), with phones in E.164
    and emails lower-cased as the importer would store them, and the record id as external id.
    """
    import phonenumbers
    from django.db import connection, transaction
    from django.utils import timezone
    from seed import RowWriter

    from rapport.contacts.models import (
        Contact,
        ContactEmail,
        ContactPhone,
        ExternalId,
        Membership,
        Organization,
    )

    rows = 0
    started = time.perf_counter()
    try:
        with transaction.atomic():
            writer = RowWriter(connection)
            now = timezone.now()
            organizations: dict[str, int] = {}
            with open(path, newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                next(reader)
                chunk: list[list[str]] = []

                def flush(chunk):
                    new_orgs = []
                    for cells in chunk:
                        name = cells[5]
                        if name and name not in organizations:
                            organizations[name] = -1
                            new_orgs.append(name)
                    for name, pk in zip(
                        new_orgs, writer.reserve_ids(Organization, len(new_orgs)), strict=True
                    ):
                        organizations[name] = pk
                    writer.insert(
                        Organization,
                        [
                            {
                                "id": organizations[name],
                                "name": name,
                                "created_at": now,
                                "updated_at": now,
                            }
                            for name in new_orgs
                        ],
                    )
                    ids = writer.reserve_ids(Contact, len(chunk))
                    contacts, emails, phones, externals, members = [], [], [], [], []
                    for pk, cells in zip(ids, chunk, strict=True):
                        (
                            record,
                            first,
                            last,
                            email,
                            phone,
                            company,
                            job,
                            city,
                            post,
                            country,
                            stage,
                        ) = cells
                        if keep:
                            email = email.strip().lower()
                            if phone:
                                number = phonenumbers.parse(phone, "US")
                                phone = f"+{number.country_code}{number.national_number}"
                        contacts.append(
                            {
                                "id": pk,
                                "first_name": first,
                                "last_name": last,
                                "job_title": job,
                                "city": city,
                                "postcode": post,
                                "country": country,
                                "lifecycle_stage": stage,
                                "source": "import",
                                "primary_email": email,
                                "primary_phone": phone,
                                "search_text": " ".join(
                                    p for p in (first, last, email, phone, company) if p
                                ).casefold()
                                if searchable
                                else "",
                                "custom_fields": {},
                                "created_at": now,
                                "updated_at": now,
                            }
                        )
                        if email:
                            emails.append(
                                {
                                    "contact_id": pk,
                                    "email": email,
                                    "label": "work",
                                    "is_primary": True,
                                }
                            )
                        if phone:
                            phones.append(
                                {
                                    "contact_id": pk,
                                    "number": phone,
                                    "label": "work",
                                    "is_primary": True,
                                }
                            )
                        externals.append({"contact_id": pk, "system": "raw", "value": record})
                        if company:
                            members.append(
                                {
                                    "contact_id": pk,
                                    "organization_id": organizations[company],
                                    "is_primary": True,
                                    "created_at": now,
                                    "updated_at": now,
                                }
                            )
                    for model, items in (
                        (Contact, contacts),
                        (ContactEmail, emails),
                        (ContactPhone, phones),
                        (ExternalId, externals),
                        (Membership, members),
                    ):
                        if model is not Contact:
                            for item, pk in zip(
                                items, writer.reserve_ids(model, len(items)), strict=True
                            ):
                                item["id"] = pk
                        writer.insert(model, items)

                for cells in reader:
                    chunk.append(cells)
                    rows += 1
                    if len(chunk) == 5000:
                        flush(chunk)
                        chunk = []
                if chunk:
                    flush(chunk)
            elapsed = time.perf_counter() - started
            if keep:
                writer.finish()
                return rows, elapsed
            raise _Rollback
    except _Rollback:
        pass
    return rows, elapsed


def import_file(path: Path, batch_size: int, actor) -> tuple[object, float, float]:
    """(job, seconds, of which seconds spent delivering events to other apps' subscribers)."""
    from django.core.files import File

    from rapport.data_exchange.importing import jobs

    delivering = [0.0]
    deliver = jobs._deliver_events

    def timed_deliver(run):
        started = time.perf_counter()
        deliver(run)
        delivering[0] += time.perf_counter() - started

    jobs._deliver_events = timed_deliver
    started = time.perf_counter()
    with open(path, "rb") as handle:
        job = jobs.create_import(
            actor=actor,
            entity="contact",
            upload=File(handle, name=path.name),
            policy="skip",
            options={"external_id_system": "bench", "check_duplicates": False},
            batch_size=batch_size,
        )
    try:
        job = jobs.run_import(job.pk)
    finally:
        jobs._deliver_events = deliver
    return job, time.perf_counter() - started, delivering[0]


def _evaluate(path: Path, job, matches) -> dict:
    """Precision and recall of the import plus detection against the planted duplicates."""
    from rapport.data_exchange import dedupe
    from rapport.data_exchange.models import ImportRow

    clusters = generator.read_truth(path)
    record_ids = list(clusters)  # file order: row number = index + 2
    contact_of: dict[str, int] = {}
    for number, object_id in (
        ImportRow.objects.filter(job=job, entity="contact", object_id__isnull=False)
        .values_list("row_number", "object_id")
        .iterator(chunk_size=50_000)
    ):
        contact_of[record_ids[number - 2]] = object_id
    truth_rows = generator.truth_pairs(clusters)
    mapped = {p for p in truth_rows if p[0] in contact_of and p[1] in contact_of}
    folded = {p for p in mapped if contact_of[p[0]] == contact_of[p[1]]}
    truth_contacts = {
        (min(contact_of[a], contact_of[b]), max(contact_of[a], contact_of[b]))
        for a, b in mapped - folded
    }
    found = {(m.key_a, m.key_b) for m in matches}
    detection = dedupe.evaluate(found, truth_contacts)
    detection_closed = dedupe.evaluate(found, truth_contacts, closure=True)
    # Row pairs: resolved when the import made them one contact or detection paired them.
    resolved = len(folded) + sum(
        1
        for a, b in mapped - folded
        if (min(contact_of[a], contact_of[b]), max(contact_of[a], contact_of[b])) in found
    )
    return {
        "truth_pairs": len(truth_rows),
        "folded_at_import": len(folded),
        "left_for_detection": len(truth_contacts),
        "detection": detection,
        "detection_closed": detection_closed,
        "overall_recall": resolved / len(truth_rows) if truth_rows else None,
    }


def in_memory_detection(path: Path) -> tuple[dict, float, int]:
    """The same detection over the generated records, without the database."""
    import phonenumbers

    from rapport.data_exchange import dedupe
    from rapport.data_exchange.matching import DEFAULT_REVIEW_THRESHOLD, DEFAULT_RULES

    keys, firsts, lasts, orgs, cities, posts = [], [], [], [], [], []
    emails: tuple[list[int], list[str]] = ([], [])
    phones: tuple[list[int], list[str]] = ([], [])
    ids = []
    with open(path, newline="", encoding="utf-8") as handle:
        for row, cells in enumerate(csv.DictReader(handle)):
            ids.append(cells["Record ID"])
            keys.append(row)
            firsts.append(cells["First Name"])
            lasts.append(cells["Last Name"])
            orgs.append(cells["Company Name"])
            cities.append(cells["City"])
            posts.append(cells["Postal Code"])
            if cells["Email"]:
                emails[0].append(row)
                emails[1].append(cells["Email"].strip().lower())
            if cells["Phone Number"]:
                number = phonenumbers.parse(cells["Phone Number"], "US")
                phones[0].append(row)
                phones[1].append(f"+{number.country_code}{number.national_number}")
    columns = dedupe.PeopleColumns(
        keys=keys,
        first_names=firsts,
        last_names=lasts,
        organizations=orgs,
        organization_domains=[""] * len(keys),
        cities=cities,
        postcodes=posts,
        emails=emails,
        phones=phones,
    )
    rules = [dedupe.Rule(*rule) for rule in DEFAULT_RULES["contact"]]
    started = time.perf_counter()
    table = dedupe.people_table(columns)
    candidates = dedupe.candidate_pairs(table)
    scored = dedupe.score_pairs(table, candidates, rules, threshold=DEFAULT_REVIEW_THRESHOLD)
    matches = dedupe.explain(table, scored, rules)
    seconds = time.perf_counter() - started
    truth = generator.truth_pairs(generator.read_truth(path))
    found = {tuple(sorted((ids[m.key_a], ids[m.key_b]))) for m in matches}
    return dedupe.evaluate(found, truth), seconds, len(candidates)


def detection_only(path: Path, rows: int) -> dict:
    """Seed the database with the rows as they are (the raw load, kept), then find their
    duplicates as the nightly scan does: for sizes the import cannot reach in one sitting."""
    from rapport.contacts.models import ExternalId
    from rapport.data_exchange import dedupe, matching
    from rapport.data_exchange.choices import Entity

    seeded, seed_seconds = raw_load(path, keep=True)
    print(f"seeded {seeded:,} contacts with the raw loader in {seed_seconds:.1f} s")
    contact_of = dict(ExternalId.objects.filter(system="raw").values_list("value", "contact_id"))
    started = time.perf_counter()
    matches, records = matching.find_matches(Entity.CONTACT)
    seconds = time.perf_counter() - started
    truth = {
        (min(contact_of[a], contact_of[b]), max(contact_of[a], contact_of[b]))
        for a, b in generator.truth_pairs(generator.read_truth(path))
    }
    found = {(m.key_a, m.key_b) for m in matches}
    result = dedupe.evaluate(found, truth)
    print(f"duplicate detection over {records:,} contacts (from the database): {seconds:.1f} s")
    print(f"  detection: {_pr(result)}")
    return {"seconds": seconds, "result": result}


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f} rows/s" if seconds else "—"


def _pr(result: dict) -> str:
    return (
        f"precision {result['precision']:.4f}  recall {result['recall']:.4f}  "
        f"({result['true_positives']:,} of {result['truth']:,} pairs; {result['found']:,} found)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--duplicate-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=2000)  # the importer's default
    parser.add_argument("--skip-memory", action="store_true", help="Skip the in-memory detection.")
    parser.add_argument(
        "--detection-only",
        action="store_true",
        help="Skip the import: seed the rows with the raw loader and time duplicate detection.",
    )
    parser.add_argument(
        "--without-subscribers",
        action="store_true",
        help="Time the importer alone: other apps' reactions to new contacts are switched off.",
    )
    args, _unknown = parser.parse_known_args(argv)

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / f"identity-{args.rows}-{args.seed}-{args.duplicate_rate}.csv"
    if not path.exists() or not Path(f"{path}.truth.csv").exists():
        started = time.perf_counter()
        generated = generator.generate(
            path, args.rows, duplicate_rate=args.duplicate_rate, seed=args.seed
        )
        print(
            f"generated {generated['rows']:,} rows with {generated['duplicates']:,} planted "
            f"duplicates ({generated['truth_pairs']:,} pairs) in {time.perf_counter() - started:.1f} s"
        )
    else:
        print(f"using {path.name}")
    url = _database_url()
    _fresh_database(url)
    configure(url)
    from django.contrib.auth import get_user_model
    from django.db import connection

    from rapport.data_exchange import matching
    from rapport.data_exchange.choices import Entity

    vendor = connection.vendor
    actor = get_user_model().objects.create_superuser(
        username="bench-importer", email="bench-importer@example.org", password=None
    )
    print(
        f"database: {vendor} ({url.rsplit('/', 1)[-1]}), {args.rows:,} rows, batches of {args.batch_size}"
    )

    if args.detection_only:
        outcome = detection_only(path, args.rows)
        aims = [
            ("detection precision > 0.95", (outcome["result"]["precision"] or 0) > AIM_PRECISION),
            ("detection recall > 0.95", (outcome["result"]["recall"] or 0) > AIM_RECALL),
        ]
        if args.rows >= 1_000_000:
            aims.append(
                ("detection < 2 minutes at 1M", outcome["seconds"] < AIM_DETECTION_SECONDS_1M)
            )
        if not args.skip_memory:
            result, seconds, candidates = in_memory_detection(path)
            print(
                f"in-memory detection over the {args.rows:,} generated rows: {seconds:.1f} s, "
                f"{candidates:,} candidate pairs scored; {_pr(result)}"
            )
        for label, met in aims:
            print(f"  aim {label}: {'met' if met else 'NOT met'}")
        return 0

    method = "COPY" if vendor == "postgresql" else "executemany"
    raw_rows, raw_seconds = raw_load(path)
    print(f"raw bulk load ({method}): {raw_seconds:.1f} s, {_rate(raw_rows, raw_seconds)}")
    _bare_rows, bare_seconds = raw_load(path, searchable=False)
    print(
        f"  the same without the contacts' search column (the baseline before 2026-12-04): "
        f"{bare_seconds:.1f} s, {_rate(raw_rows, bare_seconds)}"
    )

    if args.without_subscribers:
        from rapport.core import events

        events._subscribers.clear()
        print("other apps' event subscribers are switched off for this run")
    job, import_seconds, event_seconds = import_file(path, args.batch_size, actor)
    ratio = (raw_seconds / import_seconds) if import_seconds else 0
    own = import_seconds - event_seconds
    print(
        f"import end to end: {import_seconds:.1f} s, {_rate(raw_rows, import_seconds)} — "
        f"{ratio:.2f} of the raw load speed (aim ≥ {AIM_IMPORT_RATIO}); created "
        f"{job.created_count:,}, skipped {job.skipped_count:,} (same person, matched), "
        f"errors {job.error_count:,}, organizations {job.rows.filter(entity='organization').count():,}"
    )
    print(
        f"  of which {event_seconds:.1f} s in other apps' reactions to ContactCreated (queueing "
        f"tasks); the importer alone: {_rate(raw_rows, own)}, "
        f"{(raw_seconds / own) if own else 0:.2f} of the raw load speed"
    )
    print(
        f"  against the load without the search column: "
        f"{bare_seconds / import_seconds if import_seconds else 0:.2f} of its speed"
    )

    started = time.perf_counter()
    matches, records = matching.find_matches(Entity.CONTACT)
    detect_seconds = time.perf_counter() - started
    started = time.perf_counter()
    created, _updated, _removed = matching.record_matches(Entity.CONTACT, matches, full=True)
    record_seconds = time.perf_counter() - started
    evaluation = _evaluate(path, job, matches)
    print(
        f"duplicate detection over {records:,} contacts: {detect_seconds:.1f} s "
        f"(+ {record_seconds:.1f} s writing {created:,} pairs to the review queue)"
    )
    print(
        f"  planted pairs {evaluation['truth_pairs']:,}: folded into one contact by the import "
        f"(same email) {evaluation['folded_at_import']:,}, left for detection "
        f"{evaluation['left_for_detection']:,}"
    )
    print(f"  detection: {_pr(evaluation['detection'])}")
    print(f"  detection, pairs closed transitively: {_pr(evaluation['detection_closed'])}")
    print(f"  import + detection recall over all planted pairs: {evaluation['overall_recall']:.4f}")
    if not args.skip_memory:
        result, seconds, candidates = in_memory_detection(path)
        print(
            f"in-memory detection over the {args.rows:,} generated rows: {seconds:.1f} s, "
            f"{candidates:,} candidate pairs scored; {_pr(result)}"
        )
    aims = [
        ("import ≥ 1/4 of raw load", ratio >= AIM_IMPORT_RATIO),
        ("detection precision > 0.95", (evaluation["detection"]["precision"] or 0) > AIM_PRECISION),
        ("detection recall > 0.95", (evaluation["detection"]["recall"] or 0) > AIM_RECALL),
    ]
    if args.rows >= 1_000_000:
        aims.append(("detection < 2 minutes at 1M", detect_seconds < AIM_DETECTION_SECONDS_1M))
    for label, met in aims:
        print(f"  aim {label}: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
