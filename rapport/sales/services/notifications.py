"""In-app notifications for many people at once: the batch form of `work.notify`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

from rapport.sales.models import Notification


@dataclass(frozen=True)
class Notice:
    """One notification `work.notify` would make (its arguments)."""

    recipient: object
    kind: str
    title: str
    body: str = ""
    url: str = ""
    dedupe_key: str | None = None


@transaction.atomic
def notify_many(notices: Iterable[Notice]) -> None:
    """`work.notify` for each notice, in two statements: the same rows, skipping an inactive
    or missing recipient and a `dedupe_key` already used (by an earlier notification, a
    concurrent sender, or an earlier notice of the batch)."""
    notices = [n for n in notices if n.recipient is not None and n.recipient.is_active]
    keys = [n.dedupe_key for n in notices if n.dedupe_key]
    used = set(
        Notification.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True)
    )
    rows = []
    for notice in notices:
        if notice.dedupe_key:
            if notice.dedupe_key in used:
                continue
            used.add(notice.dedupe_key)
        rows.append(
            Notification(
                recipient=notice.recipient,
                kind=notice.kind,
                title=notice.title[:200],
                body=notice.body[:500],
                url=notice.url[:300],
                dedupe_key=notice.dedupe_key,
            )
        )
    # A concurrent sender that took a key since the read above keeps its row (as notify).
    Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
