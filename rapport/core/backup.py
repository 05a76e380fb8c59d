"""Backups of a whole installation: the database at one moment, plus the uploaded files.

A backup is one tar file:

    manifest.json          what it holds: format, engine, when, the last migration of each app
    database.sqlite3       SQLite: a copy made with SQLite's online backup API
    database.pgdump        PostgreSQL: `pg_dump --format=custom`
    media/…                the media root (import uploads, attachments)

Both database copies are consistent snapshots taken while the application keeps writing: the
SQLite backup API restarts its page copy when another connection writes, and `pg_dump` reads
inside one repeatable-read transaction. So a restore gives back the database exactly as it was
at one moment, never half a transaction. Media files are copied after the snapshot; a file
uploaded in between is kept, and nothing in the database points at it.

The functions take the database's settings dict (Django's `DATABASES["default"]` shape), so the
commands and the tests can point them at any database.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

FORMAT = 1
SQLITE = "sqlite"
POSTGRES = "postgresql"


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why in the operator's words."""


@dataclass(frozen=True)
class Manifest:
    engine: str
    created_at: str
    migrations: dict[str, str]
    media_files: int

    def as_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "engine": self.engine,
                "created_at": self.created_at,
                "migrations": self.migrations,
                "media_files": self.media_files,
            },
            indent=2,
            sort_keys=True,
        )


def engine_of(database: dict) -> str:
    engine = database["ENGINE"]
    if engine.endswith("sqlite3"):
        return SQLITE
    if "postgresql" in engine:
        return POSTGRES
    raise BackupError(f"Backups support SQLite and PostgreSQL, not {engine}.")


# --- taking a backup -------------------------------------------------------------------------


def create(
    database: dict, media_root: Path | None, destination: Path, *, migrations=None
) -> Manifest:
    """Write a backup of `database` and `media_root` to `destination` (a .tar file)."""
    engine = engine_of(database)
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rapport-backup-") as work:
        work = Path(work)
        if engine == SQLITE:
            dump = work / "database.sqlite3"
            _sqlite_copy(str(database["NAME"]), str(dump))
        else:
            dump = work / "database.pgdump"
            _pg_dump(database, dump)
        media = _media_files(media_root)
        manifest = Manifest(
            engine=engine,
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            migrations=dict(migrations or {}),
            media_files=len(media),
        )
        (work / "manifest.json").write_text(manifest.as_json())
        partial = destination.with_name(destination.name + ".partial")
        with tarfile.open(partial, "w") as archive:
            archive.add(work / "manifest.json", arcname="manifest.json")
            archive.add(dump, arcname=dump.name)
            for path in media:
                archive.add(path, arcname=f"media/{path.relative_to(media_root).as_posix()}")
        # Only a finished backup carries the name asked for.
        os.replace(partial, destination)
    return manifest


def _sqlite_copy(source: str, target: str) -> None:
    if not Path(source).exists():
        raise BackupError(f"There is no SQLite database at {source}.")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        # All pages in one step: a concurrent write restarts a stepped copy, never this one.
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _pg_environment(database: dict) -> dict:
    env = dict(os.environ)
    for key, variable in (
        ("HOST", "PGHOST"),
        ("PORT", "PGPORT"),
        ("USER", "PGUSER"),
        ("PASSWORD", "PGPASSWORD"),
    ):
        if database.get(key):
            env[variable] = str(database[key])
    return env


def _run(command: list[str], env: dict, what: str) -> None:
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise BackupError(
            f"{command[0]} is not installed: PostgreSQL backups need the PostgreSQL client tools."
        ) from exc
    if result.returncode != 0:
        raise BackupError(f"{what} failed: {result.stderr.strip() or result.stdout.strip()}")


def _pg_dump(database: dict, target: Path) -> None:
    _run(
        ["pg_dump", "--format=custom", "--no-owner", "--file", str(target), database["NAME"]],
        _pg_environment(database),
        "pg_dump",
    )


def _media_files(media_root: Path | None) -> list[Path]:
    if media_root is None or not Path(media_root).is_dir():
        return []
    return sorted(path for path in Path(media_root).rglob("*") if path.is_file())


# --- restoring ---------------------------------------------------------------------------------


def read_manifest(archive_path: Path) -> dict:
    try:
        with tarfile.open(archive_path, "r") as archive:
            member = archive.extractfile("manifest.json")
            if member is None:
                raise KeyError("manifest.json")
            manifest = json.loads(member.read())
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise BackupError(f"{archive_path} is not a Rapport backup ({exc}).") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{archive_path} is a backup of format {manifest.get('format')}.")
    return manifest


def restore(archive_path: Path, database: dict, media_root: Path | None) -> dict:
    """Replace `database` and `media_root` by the backup's: the state at the backup's moment."""
    manifest = read_manifest(archive_path)
    engine = engine_of(database)
    if manifest["engine"] != engine:
        raise BackupError(
            f"This backup is of a {manifest['engine']} database and this installation uses "
            f"{engine}; restore it into a {manifest['engine']} database."
        )
    with tempfile.TemporaryDirectory(prefix="rapport-restore-") as work:
        work = Path(work)
        with tarfile.open(archive_path, "r") as archive:
            # The "data" filter refuses absolute paths, links out of the folder and devices.
            archive.extractall(work, filter="data")
        if engine == SQLITE:
            _sqlite_restore(work / "database.sqlite3", str(database["NAME"]))
        else:
            _pg_restore(work / "database.pgdump", database)
        if media_root is not None:
            _replace_media(work / "media", Path(media_root))
    return manifest


def _sqlite_restore(dump: Path, target: str) -> None:
    src = sqlite3.connect(f"file:{dump}?mode=ro", uri=True)
    dst = sqlite3.connect(target, timeout=30)
    try:
        # The backup API writes into the live file under its own lock, so open connections of
        # a running server see either the old database or the restored one.
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _pg_restore(dump: Path, database: dict) -> None:
    env = _pg_environment(database)
    # One transaction: a restore that fails leaves the database as it was.
    _run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            "--dbname",
            database["NAME"],
            str(dump),
        ],
        env,
        "pg_restore",
    )


def _replace_media(source: Path, media_root: Path) -> None:
    media_root.parent.mkdir(parents=True, exist_ok=True)
    staged = media_root.with_name(media_root.name + ".restoring")
    if staged.exists():
        shutil.rmtree(staged)
    if source.is_dir():
        shutil.copytree(source, staged)
    else:
        staged.mkdir()
    old = media_root.with_name(media_root.name + ".before-restore")
    if old.exists():
        shutil.rmtree(old)
    if media_root.exists():
        media_root.rename(old)
    staged.rename(media_root)
    if old.exists():
        shutil.rmtree(old)
