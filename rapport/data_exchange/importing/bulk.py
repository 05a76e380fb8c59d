"""Writing many rows at once the database's own fast way: COPY on PostgreSQL, executemany on
SQLite — inside the caller's transaction, so a batch still commits or rolls back whole.

Model instances and bulk_create cost more in Python than the database spends storing the rows;
an import writes eight rows per contact (contact, email, phone, external id, membership, first
lifecycle step, audit record, import history), so it writes them as plain tuples. The ids of
rows that others point at (contacts, organizations) are reserved first so the rows can refer to
each other before anything is sent; rows nothing points at are given theirs by the database as
they are stored, which on PostgreSQL saves a round trip per table and batch.
"""

from __future__ import annotations

import datetime as dt
import json
import operator

from django.db import models


class BulkWriter:
    def __init__(self, connection):
        self.connection = connection
        self.sqlite = connection.vendor == "sqlite"
        self._next_ids: dict[type, int] = {}
        self._plans: dict[tuple[type, bool], tuple] = {}

    def reserve_ids(self, model, count: int) -> list[int]:
        """`count` fresh primary keys for `model`."""
        if count <= 0:
            return []
        table = model._meta.db_table
        with self.connection.cursor() as cursor:
            if not self.sqlite:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [table, count],
                )
                return [row[0] for row in cursor.fetchall()]
            # SQLite: the batch's transaction holds the write lock, so the maximum cannot move
            # under us; sqlite_sequence follows the explicit ids we insert.
            if model not in self._next_ids:
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
                floor = cursor.fetchone()[0]
                cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
                row = cursor.fetchone()
                self._next_ids[model] = max(floor, row[0] if row else 0) + 1
        start = self._next_ids[model]
        self._next_ids[model] = start + count
        return list(range(start, start + count))

    def _plan(self, model, with_pk: bool):
        plan = self._plans.get((model, with_pk))
        if plan is not None:
            return plan
        fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
        defaults, converted = {}, []
        for index, field in enumerate(fields):
            if field.has_default():
                defaults[field.attname] = field.get_default()
            elif field.null:
                defaults[field.attname] = None
            else:
                defaults[field.attname] = ""
            if isinstance(field, models.JSONField):
                converted.append((index, _json))
            elif isinstance(field, models.DateTimeField) and self.sqlite:
                converted.append((index, _sqlite_datetime))
        names = ", ".join(self.connection.ops.quote_name(f.column) for f in fields)
        # Filling the defaults by a dict merge and reading the columns with one itemgetter
        # keeps the per-row work in C: building the tuples cost more than storing them.
        getter = operator.itemgetter(*(f.attname for f in fields))
        if len(fields) == 1:
            single = getter

            def getter(row):
                return (single(row),)

        plan = (model._meta.db_table, names, defaults, getter, converted, len(fields))
        self._plans[(model, with_pk)] = plan
        return plan

    def insert(self, model, rows: list[dict]) -> None:
        """Insert `rows` (attribute name → value; the model's defaults fill the rest). Rows
        without a primary key get one from the database (all rows of a call alike)."""
        if not rows:
            return
        with_pk = model._meta.pk.attname in rows[0]
        table, names, defaults, getter, converted, width = self._plan(model, with_pk)
        if converted:
            tuples = []
            for row in rows:
                values = list(getter({**defaults, **row}))
                for index, convert in converted:
                    values[index] = convert(values[index])
                tuples.append(values)
        else:
            tuples = [getter({**defaults, **row}) for row in rows]
        with self.connection.cursor() as cursor:
            if self.sqlite:
                marks = ", ".join("?" for _ in range(width))
                cursor.connection.executemany(
                    f"INSERT INTO {table} ({names}) VALUES ({marks})",  # noqa: S608
                    tuples,
                )
            else:
                with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for values in tuples:
                        copy.write_row(values)


def _json(value):
    if value is None:
        return None
    if not value and isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(value)


_last_datetime: list = [None, None]


def _sqlite_datetime(value):
    # What Django's SQLite backend stores for an aware time: UTC, without the offset. A batch
    # stamps every row with the same moment, so the last conversion is kept.
    if value is None:
        return None
    if value is not _last_datetime[0]:
        _last_datetime[0] = value
        _last_datetime[1] = str(value.astimezone(dt.UTC).replace(tzinfo=None))
    return _last_datetime[1]
