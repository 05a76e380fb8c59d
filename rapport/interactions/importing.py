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

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Concat, Lower
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.audit.querysets import changed_since as audit_changed_since
from rapport.audit.services import record_deletions
from rapport.contacts.models import Contact, ContactEmail, Organization
from rapport.core.importing import (
    Importer,
    ImportPolicy,
    OptionField,
    RowAction,
    RowErrors,
    RowResult,
    SourceRow,
    Target,
    fold,
    parse_export_moment,
    source_fingerprint,
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

_EMAIL = re.compile(r"[^\s<>()\[\],;\"']+@[^\s<>()\[\],;\"']+\.[^\s<>()\[\],;\"']+")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})$")


class _DryRun(Exception):
    """Rolls back a dry run's writes once the service has checked them."""


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
        results, keys = [], []
        for row in rows:
            source_id = row.values.get("source_id", "").strip()
            if source_id:
                row.fingerprint = source_fingerprint(ACTIVITY, source_id[:200])
            keys.append(f"import:{row.fingerprint}")
            results.append(
                RowResult(
                    number=row.number,
                    action=RowAction.CREATED,
                    entity=ACTIVITY,
                    fingerprint=row.fingerprint,
                )
            )
        existing = {
            entry.external_id: entry
            for entry in Interaction.objects.filter(external_id__in=keys).select_related(
                "contact", "organization"
            )
        }
        contacts = self._contacts(rows, run)
        organizations = self._organizations(rows, run)
        for row, result, key in zip(rows, results, keys, strict=True):
            if run.kind_problem:
                _fail(result, "kind", run.kind_problem)
                continue
            if key in run.seen:
                seen = run.seen[key]
                result.action = RowAction.UNCHANGED
                result.object_id = seen if isinstance(seen, int) else None
                continue
            entry = existing.get(key)
            if entry is not None:
                if not access.can(run.actor, Action.CHANGE, entry):
                    _fail(
                        result,
                        "source_id" if row.values.get("source_id") else "subject",
                        "This activity was imported before and is not yours: the row was left out.",
                    )
                    continue
                run.seen[key] = entry.pk
                result.object_id = entry.pk
                result.action = (
                    RowAction.SKIPPED if run.policy == ImportPolicy.SKIP else RowAction.UNCHANGED
                )
                continue
            try:
                data = self._clean(row, run, contacts, organizations)
                self._create(data, key, result, run, dry_run=dry_run)
            except RowErrors as exc:
                result.action, result.errors = RowAction.ERROR, exc.errors
                continue
            except ValidationError as exc:
                result.action, result.object_id, result.after = RowAction.ERROR, None, {}
                result.errors = [
                    {"field": SERVICE_FIELDS.get(k, k), "message": message}
                    for k, messages in exc.message_dict.items()
                    for message in messages
                ]
                continue
            except PermissionDenied as exc:
                result.action, result.object_id, result.after = RowAction.ERROR, None, {}
                result.errors = [{"field": "contact", "message": str(exc)}]
                continue
            run.seen[key] = result.object_id or f"row:{row.number}"
        return results

    # --- batch lookups -------------------------------------------------------------------------

    def _contacts(self, rows, run: ActivityRun) -> dict[str, list]:
        """Email or folded full name → the contacts the importer may see; two queries."""
        emails, names = set(), set()
        for row in rows:
            cell = row.values.get("contact", "").strip()
            if not cell:
                continue
            match = _EMAIL.search(cell)
            if match:
                emails.add(match.group(0).casefold())
            else:
                names.add(" ".join(cell.split()).casefold())
        found: dict[str, list] = {}
        visible = _visible(Contact.objects.all(), run.actor)
        if emails:
            for address in (
                ContactEmail.objects.filter(email__in=emails, contact__in=visible)
                .select_related("contact")
                .order_by("contact_id")
            ):
                found.setdefault(address.email, []).append(address.contact)
        if names:
            for contact in (
                visible.annotate(full=Lower(Concat("first_name", Value(" "), "last_name")))
                .filter(full__in=names)
                .order_by("pk")
            ):
                found.setdefault(contact.full, []).append(contact)
        return found

    def _organizations(self, rows, run: ActivityRun) -> dict[str, list]:
        names = {row.values.get("organization", "").strip().casefold() for row in rows} - {""}
        if not names:
            return {}
        found: dict[str, list] = {}
        for organization in (
            _visible(Organization.objects.all(), run.actor)
            .annotate(folded_name=Lower("name"))
            .filter(folded_name__in=names)
            .order_by("pk")
        ):
            found.setdefault(organization.folded_name, []).append(organization)
        return found

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
        raw_date = values.get("occurred_at", "").strip()
        if not raw_date:
            fail("occurred_at", "Give the date it happened, such as 2024-03-31 14:05.")
        else:
            try:
                data["occurred_at"] = parse_export_moment(raw_date)
            except ValidationError as exc:
                fail("occurred_at", exc.messages[0])
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
        text = " ".join(raw.split())
        if not text:
            return None
        match = _EMAIL.search(text)
        candidates = found.get(match.group(0).casefold() if match else text.casefold())
        if not candidates:
            fail(
                "contact",
                f"No contact {'with the email' if match else 'named'} {text[:80]!r} among those "
                "you can see; import the contacts first.",
            )
            return None
        if len(candidates) > 1 and not match:
            fail("contact", f"More than one contact is named {text[:80]!r}; give an email.")
            return None
        if not access.can(run.actor, Action.CHANGE, candidates[0]):
            fail("contact", "This contact is not yours: its timeline was left as it is.")
            return None
        return candidates[0]

    def _organization(self, raw: str, found: dict, run: ActivityRun, fail):
        text = " ".join(raw.split())
        if not text:
            return None
        candidates = found.get(text.casefold())
        if not candidates:
            fail(
                "organization",
                f"No organization named {text[:80]!r} among those you can see; import the "
                "organizations first.",
            )
            return None
        writable = [o for o in candidates if access.can(run.actor, Action.CHANGE, o)]
        if not writable:
            fail("organization", "This organization is not yours: its timeline was left as it is.")
            return None
        return writable[0]

    def _create(self, data: dict, key: str, result: RowResult, run: ActivityRun, *, dry_run):
        try:
            with transaction.atomic():
                entry = log_interaction(actor=run.actor, external_id=key, **data)
                result.after = {
                    "kind": entry.kind,
                    "occurred_at": timezone.localtime(entry.occurred_at).isoformat(),
                    "subject": entry.subject[:80],
                }
                if dry_run:
                    raise _DryRun
                result.object_id = entry.pk
        except _DryRun:
            result.object_id = None

    # --- undo ----------------------------------------------------------------------------------

    def undo(self, job, rows, actor) -> dict:
        """Delete the entries this import created, unless someone changed them since."""
        report = {"deleted": 0, "kept_changed_since": 0, "already_gone": 0}
        finished = job.finished_at or job.created_at
        ids = sorted(
            {
                row.object_id
                for row in rows
                if row.entity == ACTIVITY and row.action == RowAction.CREATED and row.object_id
            }
        )
        entries = Interaction.objects.in_bulk(ids)
        changed = audit_changed_since("interactions.interaction", ids, finished)
        deletable = []
        for pk in ids:
            entry = entries.get(pk)
            if entry is None:
                report["already_gone"] += 1
            elif pk in changed or not access.can(actor, Action.DELETE, entry):
                report["kept_changed_since"] += 1
            else:
                deletable.append(entry)
        record_deletions(actor=actor, instances=deletable, message=f"import #{job.pk} undone")
        Interaction.objects.filter(pk__in=[entry.pk for entry in deletable]).delete()
        report["deleted"] += len(deletable)
        return report


def _visible(queryset, actor):
    # The system (a CLI run without --as) sees everything.
    return queryset if actor is None else queryset.visible_to(actor)


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


def _fail(result: RowResult, column: str, message: str) -> None:
    result.action = RowAction.ERROR
    result.errors = [{"field": column, "message": message}]
