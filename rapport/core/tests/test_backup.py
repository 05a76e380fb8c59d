"""`rapport backup` / `rapport restore` against real databases, taken while writes go on."""

import sqlite3
import tarfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from rapport.core import backup

SCHEMA = [
    "CREATE TABLE account (id integer PRIMARY KEY, balance integer NOT NULL)",
    "CREATE TABLE entry (id integer PRIMARY KEY, account_id integer NOT NULL, amount integer)",
]


INSERTS = {
    "?": (
        "INSERT INTO account (id, balance) VALUES (?, ?)",
        "INSERT INTO entry (id, account_id, amount) VALUES (?, ?, ?)",
    ),
    "%s": (
        "INSERT INTO account (id, balance) VALUES (%s, %s)",
        "INSERT INTO entry (id, account_id, amount) VALUES (%s, %s, %s)",
    ),
}


class Writer(threading.Thread):
    """Writes pairs of rows, each pair in one transaction, until told to stop."""

    def __init__(self, connect, placeholder="?"):
        super().__init__(daemon=True)
        self.connect = connect
        self.placeholder = placeholder
        self.stop = threading.Event()
        self.committed = 0
        self.error = None

    def run(self):
        account_sql, entry_sql = INSERTS[self.placeholder]
        conn = self.connect()
        try:
            while not self.stop.is_set():
                n = self.committed + 1
                cur = conn.cursor()
                cur.execute(account_sql, (n, n))
                cur.execute(entry_sql, (n, n, n))
                conn.commit()
                self.committed = n
        except Exception as exc:  # reported by the test
            self.error = exc
        finally:
            conn.close()


def wait_for(writer: Writer, committed: int) -> None:
    deadline = time.monotonic() + 60
    while writer.committed < committed and writer.is_alive() and time.monotonic() < deadline:
        time.sleep(0.001)
    assert writer.error is None and writer.committed >= committed


def assert_one_moment(rows_accounts, rows_entries):
    """Every transaction wholly there or wholly absent, and none missing before the last."""
    accounts = sorted(rows_accounts)
    entries = sorted(rows_entries)
    assert accounts == entries, "a transaction was half restored"
    assert accounts == list(range(1, len(accounts) + 1)), "a committed write is missing"
    return len(accounts)


def _media(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_sqlite_backup_under_write_load_restores_one_moment(tmp_path):
    source = tmp_path / "live.sqlite3"
    conn = sqlite3.connect(source)
    conn.execute("PRAGMA journal_mode=WAL")
    for statement in SCHEMA:
        conn.execute(statement)
    conn.commit()
    conn.close()
    media = tmp_path / "media"
    (media / "imports").mkdir(parents=True)
    (media / "imports" / "people.csv").write_bytes(b"email\nada@example.com\n")

    writer = Writer(lambda: sqlite3.connect(source, timeout=30))
    writer.start()
    wait_for(writer, 200)
    archive = tmp_path / "backup.tar"
    manifest = backup.create(
        {"ENGINE": "django.db.backends.sqlite3", "NAME": source}, media, archive
    )
    at_backup = writer.committed
    wait_for(writer, at_backup + 200)
    writer.stop.set()
    writer.join()
    assert writer.error is None
    assert manifest.engine == "sqlite" and manifest.media_files == 1

    # The live database and media move on; the restore brings back the backup's moment.
    (media / "imports" / "later.csv").write_bytes(b"later")
    backup.restore(archive, {"ENGINE": "django.db.backends.sqlite3", "NAME": source}, media)
    conn = sqlite3.connect(source)
    restored = assert_one_moment(
        [r[0] for r in conn.execute("SELECT id FROM account")],
        [r[0] for r in conn.execute("SELECT id FROM entry")],
    )
    conn.close()
    assert 200 <= restored <= at_backup + 1
    assert _media(media) == {"imports/people.csv": b"email\nada@example.com\n"}


def test_restore_refuses_another_engine_and_a_foreign_file(tmp_path):
    source = tmp_path / "live.sqlite3"
    sqlite3.connect(source).close()
    archive = tmp_path / "backup.tar"
    backup.create({"ENGINE": "django.db.backends.sqlite3", "NAME": source}, None, archive)
    with pytest.raises(backup.BackupError, match="restore it into a sqlite database"):
        backup.restore(archive, {"ENGINE": "django.db.backends.postgresql", "NAME": "x"}, None)

    foreign = tmp_path / "foreign.tar"
    with tarfile.open(foreign, "w") as tar:
        tar.add(source, arcname="database.sqlite3")
    with pytest.raises(backup.BackupError, match="is not a Rapport backup"):
        backup.restore(foreign, {"ENGINE": "django.db.backends.sqlite3", "NAME": source}, None)


def test_restore_command_asks_for_confirmation(tmp_path):
    source = tmp_path / "live.sqlite3"
    sqlite3.connect(source).close()
    archive = tmp_path / "backup.tar"
    backup.create({"ENGINE": "django.db.backends.sqlite3", "NAME": source}, None, archive)
    with pytest.raises(CommandError, match="--yes"):
        call_command("restore", str(archive))
    with pytest.raises(CommandError, match="not a Rapport backup"):
        call_command("restore", str(source), yes=True)


postgres_only = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="runs in the PostgreSQL pass of the suite",
)


@pytest.fixture
def scratch_database():
    """A database of its own on the test server, dropped afterwards."""
    import psycopg

    main = settings.DATABASES["default"]
    params = {
        key: main[name]
        for key, name in (
            ("host", "HOST"),
            ("port", "PORT"),
            ("user", "USER"),
            ("password", "PASSWORD"),
        )
        if main.get(name)
    }
    name = f"rapport_backup_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield dict(main, NAME=name), (lambda: psycopg.connect(dbname=name, **params))
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@postgres_only
def test_postgres_backup_under_write_load_restores_one_moment(tmp_path, scratch_database):
    database, connect = scratch_database
    with connect() as conn:
        for statement in SCHEMA:
            conn.execute(statement)
    writer = Writer(connect, placeholder="%s")
    writer.start()
    wait_for(writer, 200)
    archive = tmp_path / "backup.tar"
    backup.create(database, None, archive)
    at_backup = writer.committed
    wait_for(writer, at_backup + 200)
    writer.stop.set()
    writer.join()
    assert writer.error is None

    backup.restore(archive, database, None)
    with connect() as conn:
        restored = assert_one_moment(
            [r[0] for r in conn.execute("SELECT id FROM account")],
            [r[0] for r in conn.execute("SELECT id FROM entry")],
        )
    assert 200 <= restored <= at_backup + 1
