"""Importing activities (notes, calls, meetings, emails) from the CRM a user leaves.

The import engine (data_exchange) runs this importer like its own; it is registered from
InteractionsConfig.ready() through the contract in `core.importing`.

Each row becomes a timeline entry through `interactions.services.log_interaction`, on the date
the file gives (the contact's "last touched" follows), linked to a contact by email (or "First
Last") and/or to an organization by name, among the records the importing user may change. A
row's type comes from its type column in any of the vendors' words (HubSpot's NOTE/CALL, a
Salesforce task's subtype, "Event"…), else from the job's `kind` option (a Zoho Calls export has
no type column), else it is a note.

An entry is known by an external id made from the source's id column when the file has one,
else from the row's fingerprint: importing the file again adds nothing. Undo deletes the entries
the import created, unless someone changed them since.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial

from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.audit.querysets import changed_since as audit_changed_since
from rapport.audit.services import record_deletions
from rapport.contacts.import_lookups import (
    changeable,
    contact_named,
    contacts_by_email_or_name,
    organizations_by_name,
    organizations_named,
)
from rapport.core.importing import (
    Importer,
    OptionField,
    RowErrors,
    RowResult,
    SourceRow,
    Target,
    attempt,
    cell_moment,
    fail_row,
    fold,
    settle_known,
    start_results,
    undo_created,
    write_row,
)
from rapport.interactions.choices import OUTCOMES, Direction, InteractionKind
from rapport.interactions.models import Interaction
from rapport.interactions.services import log_interaction

ACTIVITY = "activity"

ACTIVITY_TARGETS = (
    Target(
        "source_id",
        "Activity id in the other system",
        ("id", "record id", "activity id", "engagement id", "note id", "call id", "meeting id"),
        "The activity's id where it comes from: importing the file again adds nothing.",
    ),
    Target(
        "kind",
        "Type",
        (
            "activity type",
            "type",
            "engagement type",
            "task subtype",
            "event type",
            "activity",
            "kind",
        ),
        "Note, call, meeting or email (also SMS, chat); a note when empty.",
    ),
    Target(
        "occurred_at",
        "Date",
        (
            "activity date",
            "date",
            "call start time",
            "start date time",
            "start time",
            "meeting start time",
            "from",
            "timestamp",
            "email send date",
            "created date",
            "create date",
            "created time",
            "created at",
        ),
        "When it happened, such as 2024-03-31 14:05.",
    ),
    Target(
        "subject",
        "Subject",
        (
            "title",
            "note title",
            "call title",
            "meeting name",
            "meeting title",
            "email subject",
            "activity subject",
        ),
    ),
    Target(
        "body",
        "Notes",
        (
            "body",
            "description",
            "note content",
            "note body",
            "note",
            "comments",
            "call notes",
            "content",
            "email body",
            "meeting description",
            "activity note",
        ),
    ),
    Target(
        "contact",
        "Contact (email)",
        (
            "contact email",
            "email",
            "email address",
            "associated contact",
            "associated contact email",
            "contact",
            "contact name",
        ),
        "An email address or the contact's full name.",
    ),
    Target(
        "organization",
        "Organization",
        (
            "account name",
            "associated company",
            "company",
            "company name",
            "account",
            "organization name",
        ),
        "The organization's name, as Rapport has it.",
    ),
    Target(
        "direction",
        "Direction",
        ("call direction", "call type", "email direction", "direction"),
        "Inbound or outbound.",
    ),
    Target(
        "outcome",
        "Outcome",
        ("call outcome", "call result", "meeting outcome", "call status", "outcome"),
    ),
    Target(
        "duration",
        "Duration (minutes)",
        ("duration", "call duration", "duration minutes", "meeting duration"),
        "Minutes, or hours:minutes:seconds.",
    ),
    Target(
        "duration_seconds",
        "Duration (seconds)",
        ("call duration in seconds", "duration in seconds", "duration seconds"),
    ),
)

# The vendors' words for each kind of entry, folded.
KIND_WORDS = {
    InteractionKind.NOTE: ("note", "notes"),
    InteractionKind.CALL: ("call", "calls", "log a call", "phone call", "phone", "logged call"),
    InteractionKind.MEETING: ("meeting", "meetings", "event", "events", "appointment"),
    InteractionKind.EMAIL: (
        "email",
        "emails",
        "e mail",
        "incoming email",
        "forwarded email",
        "sent email",
        "list email",
    ),
    InteractionKind.SMS: ("sms", "text message", "text"),
    InteractionKind.CHAT: ("chat", "chat message", "whatsapp"),
}
KINDS = {word: kind for kind, words in KIND_WORDS.items() for word in words}
KIND_NAMES = "Note, Call, Meeting, Email, SMS, Chat"

DIRECTION_WORDS = {
    "inbound": Direction.INBOUND,
    "incoming": Direction.INBOUND,
    "incoming email": Direction.INBOUND,
    "received": Direction.INBOUND,
    "missed": Direction.INBOUND,
    "outbound": Direction.OUTBOUND,
    "outgoing": Direction.OUTBOUND,
    "sent": Direction.OUTBOUND,
    "email": Direction.OUTBOUND,  # HubSpot's direction of an email the rep sent
    "internal": Direction.INTERNAL,
}

# Outcomes as the vendors word them → Rapport's, per kind.
OUTCOME_WORDS = {
    "call": {
        "connected": "connected",
        "completed": "connected",
        "answered": "connected",
        "left voicemail": "left_voicemail",
        "left live message": "left_voicemail",
        "voicemail": "left_voicemail",
        "no answer": "no_answer",
        "not answered": "no_answer",
        "missed": "no_answer",
        "busy": "busy",
        "wrong number": "wrong_number",
    },
    "meeting": {
        "completed": "completed",
        "held": "completed",
        "rescheduled": "rescheduled",
        "no show": "no_show",
        "cancelled": "cancelled",
        "canceled": "cancelled",
    },
}

SERVICE_FIELDS = {"duration_minutes": "duration", "contact": "contact"}

_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})$")


@dataclass
class ActivityRun:
    job: object
    actor: object
    policy: str
    default_kind: str = InteractionKind.NOTE
    kind_problem: str = ""
    # external id → entry id (or "row:N" in a dry run) of the rows this run has written.
    seen: dict = field(default_factory=dict)


class ActivityImporter(Importer):
    entity = ACTIVITY
    label = "Activities (notes, calls, meetings, emails)"
    targets = ACTIVITY_TARGETS
    option_names = ("kind",)
    looked_up_models = (Interaction,)

    def option_fields(self) -> list[OptionField]:
        return [
            OptionField(
                "kind",
                "Rows without a type are",
                (
                    ("", "Notes"),
                    (InteractionKind.CALL, "Calls"),
                    (InteractionKind.MEETING, "Meetings"),
                    (InteractionKind.EMAIL, "Emails"),
                ),
                "For a file of one kind of activity, such as Zoho's calls export.",
            )
        ]

    def begin(self, job) -> ActivityRun:
        options = job.options or {}
        run = ActivityRun(job=job, actor=job.created_by, policy=job.policy)
        chosen = str(options.get("kind") or "").strip()
        if chosen:
            kind = KINDS.get(fold(chosen))
            if kind is None:
                run.kind_problem = f"{chosen!r} is not a type of activity: use {KIND_NAMES}."
            else:
                run.default_kind = kind
        return run

    def process_batch(self, rows: list[SourceRow], run: ActivityRun, *, dry_run: bool):
        results = start_results(rows, ACTIVITY)
        keys = [f"import:{row.fingerprint}" for row in rows]
        existing = {
            entry.external_id: entry
            for entry in Interaction.objects.filter(external_id__in=keys).select_related(
                "contact", "organization"
            )
        }
        contacts = contacts_by_email_or_name(
            (row.values.get("contact", "") for row in rows), run.actor
        )
        organizations = organizations_by_name(
            (row.values.get("organization", "") for row in rows), run.actor
        )

        def may_change(record) -> bool:
            return access.can(run.actor, Action.CHANGE, record)

        for row, result, key in zip(rows, results, keys, strict=True):
            if run.kind_problem:
                fail_row(result, "kind", run.kind_problem)
                continue
            if settle_known(
                result,
                seen=run.seen,
                key=key,
                record=existing.get(key),
                policy=run.policy,
                may_change=may_change,
                column="source_id" if row.values.get("source_id") else "subject",
                not_yours="This activity was imported before and is not yours: the row was left out.",
            ):
                continue
            write = partial(self._write, row, key, run, contacts, organizations, result, dry_run)
            if attempt(result, write, fields=SERVICE_FIELDS, permission_field="contact"):
                run.seen[key] = result.object_id or f"row:{row.number}"
        return results

    def _write(self, row, key, run, contacts, organizations, result, dry_run: bool) -> None:
        data = self._clean(row, run, contacts, organizations)
        self._create(data, key, result, run, dry_run=dry_run)

    # --- one row -------------------------------------------------------------------------------

    def _clean(self, row: SourceRow, run: ActivityRun, contacts, organizations) -> dict:
        values, errors = row.values, []

        def fail(column, message):
            errors.append({"field": column, "message": message})

        data: dict = {}
        raw_kind = " ".join(values.get("kind", "").split())
        kind = KINDS.get(fold(raw_kind)) if raw_kind else run.default_kind
        if kind is None:
            fail("kind", f"{raw_kind[:40]!r} is not a type of activity: use {KIND_NAMES}.")
        data["kind"] = kind
        occurred_at = cell_moment(
            values,
            "occurred_at",
            fail,
            missing="Give the date it happened, such as 2024-03-31 14:05.",
        )
        if occurred_at is not None:
            data["occurred_at"] = occurred_at
        data["subject"] = " ".join(values.get("subject", "").split())
        data["body"] = values.get("body", "").strip()
        raw_direction = fold(values.get("direction", ""))
        data["direction"] = ""
        if raw_direction:
            direction = DIRECTION_WORDS.get(raw_direction)
            if direction is None:
                fail("direction", "Use inbound or outbound.")
            else:
                data["direction"] = direction
        data["outcome"] = ""
        raw_outcome = " ".join(values.get("outcome", "").split())
        if raw_outcome and kind in OUTCOMES:
            outcome = OUTCOME_WORDS[kind].get(fold(raw_outcome))
            if outcome is None:
                words = ", ".join(o.replace("_", " ").capitalize() for o in OUTCOMES[kind])
                fail("outcome", f"{raw_outcome[:40]!r} is not an outcome of a {kind}: use {words}.")
            else:
                data["outcome"] = outcome
        data["duration_minutes"] = _duration(values, fail)
        data["contact"] = self._contact(values.get("contact", ""), contacts, run, fail)
        data["organization"] = self._organization(
            values.get("organization", ""), organizations, run, fail
        )
        if (
            data["contact"] is None
            and data["organization"] is None
            and not {e["field"] for e in errors} & {"contact", "organization"}
        ):
            fail("contact", "Name the contact (an email address) or the organization it is about.")
        if errors:
            raise RowErrors(errors)
        return data

    def _contact(self, raw: str, found: dict, run: ActivityRun, fail):
        contact = contact_named(raw, found, fail, advice="import the contacts first")
        if contact is not None and not changeable(run.actor, [contact]):
            fail("contact", "This contact is not yours: its timeline was left as it is.")
            return None
        return contact

    def _organization(self, raw: str, found: dict, run: ActivityRun, fail):
        candidates = organizations_named(raw, found, fail, advice="import the organizations first")
        writable = changeable(run.actor, candidates)
        if candidates and not writable:
            fail("organization", "This organization is not yours: its timeline was left as it is.")
            return None
        return writable[0] if writable else None

    def _create(self, data: dict, key: str, result: RowResult, run: ActivityRun, *, dry_run):
        def write() -> int:
            entry = log_interaction(actor=run.actor, external_id=key, **data)
            result.after = {
                "kind": entry.kind,
                "occurred_at": timezone.localtime(entry.occurred_at).isoformat(),
                "subject": entry.subject[:80],
            }
            return entry.pk

        write_row(result, write, dry_run=dry_run)

    # --- undo ----------------------------------------------------------------------------------

    def undo(self, job, rows, actor) -> dict:
        """Delete the entries this import created, unless someone changed them since."""
        deletable = partial(access.can, actor, Action.DELETE)
        audited = partial(record_deletions, actor=actor)
        return undo_created(
            job, rows, Interaction, ACTIVITY, deletable, audit_changed_since, audited
        )


def _duration(values: dict, fail) -> int | None:
    """Whole minutes from "12", "12.5", "00:05:30" or a seconds column."""
    raw = values.get("duration", "").strip()
    seconds = values.get("duration_seconds", "").strip()
    if raw:
        clock = _CLOCK.match(raw)
        try:
            if clock:
                hours, minutes, secs = (int(part or 0) for part in clock.groups())
                minutes_total = hours * 60 + minutes + round(secs / 60)
            else:
                minutes_total = round(float(raw.replace(",", ".")))
        except ValueError:
            fail("duration", "Give minutes, such as 15, or a time such as 00:15:00.")
            return None
    elif seconds:
        try:
            minutes_total = round(float(seconds) / 60)
        except ValueError:
            fail("duration_seconds", "Give whole seconds, such as 300.")
            return None
    else:
        return None
    if not 0 <= minutes_total <= 24 * 60:
        fail("duration" if raw else "duration_seconds", "Give a duration of at most 24 hours.")
        return None
    return minutes_total
