"""Importing deals (opportunities) from the CRM a user leaves: Salesforce, HubSpot, Zoho.

The import engine (data_exchange) runs this importer like its own; it is registered from
SalesConfig.ready() through the contract in `core.importing`.

A row is a deal in a pipeline chosen for the whole file (the `pipeline` option, the default
pipeline otherwise). Its stage is one of that pipeline's stages by name, accents and case set
aside; the other systems' names for a won or lost deal ("Closed Won", HubSpot's "closedwon",
Salesforce's IsWon/IsClosed) are the pipeline's won or lost stage. A deal is written through
`sales.services` as a person's would be: created on its source's creation date, then, when the
file says it was won or lost, moved to that stage on its close date, so the deal's history,
the win rates and the revenue by month start when they did.

The organization is found by its name, the contact by an email (or "First Last"), among the
records the importing user may see; the owner among the users by email, username or name, or
through the job's `owner_map` (a source owner → a Rapport user's email or username), and must
be someone the importer may give a deal to (`access.owner_problem`).

A row is the same deal the next time it is imported: by the source's id column when the file
has one, else by the row's fingerprint. Undo deletes the deals the import created, unless
someone changed them since.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial

from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.accounts.choices import Domain
from rapport.audit.querysets import changed_since as audit_changed_since
from rapport.audit.services import record_deletions
from rapport.contacts.import_lookups import (
    contact_named,
    contacts_by_email_or_name,
    organizations_by_name,
    organizations_named,
)
from rapport.core.importing import (
    Importer,
    OptionField,
    Owners,
    RowErrors,
    RowResult,
    SourceRow,
    Target,
    attempt,
    cell_moment,
    fail_row,
    fold,
    imported_before,
    settle_known,
    start_results,
    undo_created,
    write_row,
)
from rapport.sales.choices import DealStatus, StageKind
from rapport.sales.models import Deal, LostReason, Pipeline, Task
from rapport.sales.services.deal_lines import withdraw_revenue
from rapport.sales.services.deals import create_deal, move_deal
from rapport.sales.services.pipelines import default_pipeline
from rapport.sales.services.validation import clean_amount
from rapport.sales.services.work import complete_task, create_task

DEAL = "deal"

DEAL_TARGETS = (
    Target(
        "source_id",
        "Deal id in the other system",
        ("id", "opportunity id", "deal id", "record id", "record id deal"),
        "The deal's id where it comes from: importing the file again finds the same deal.",
    ),
    Target(
        "name",
        "Deal name",
        ("name", "opportunity name", "deal", "opportunity", "deal title", "title"),
    ),
    Target(
        "organization",
        "Organization",
        (
            "account name",
            "account",
            "associated company",
            "company",
            "company name",
            "organization name",
            "organisation",
        ),
        "The organization's name, as Rapport has it.",
    ),
    Target(
        "contact",
        "Contact (email)",
        (
            "contact email",
            "email",
            "contact",
            "contact name",
            "associated contact",
            "primary contact",
        ),
        "An email address or the contact's full name.",
    ),
    Target("amount", "Amount", ("deal amount", "value", "deal value", "opportunity amount")),
    Target(
        "currency",
        "Currency",
        ("currency iso code", "currency code", "deal currency code", "deal currency"),
        "A three-letter code such as EUR; the pipeline's currency when empty.",
    ),
    Target(
        "stage",
        "Stage",
        ("stage name", "deal stage", "sales stage", "opportunity stage"),
        "A stage of the chosen pipeline, or the other system's won or lost stage.",
    ),
    Target(
        "close_date",
        "Close date",
        ("closing date", "expected close date", "close date", "closed date"),
        "The expected close date; for a won or lost deal, the day it was won or lost.",
    ),
    Target(
        "created_at",
        "Created on",
        ("created date", "create date", "created time", "created at", "date created"),
        "The deal's creation date in the other system, kept as its creation.",
    ),
    Target(
        "owner",
        "Owner",
        (
            "owner email",
            "deal owner",
            "opportunity owner",
            "owner name",
            "owner id",
            "deal owner email",
        ),
        "A user's email address, username or full name.",
    ),
    Target("is_won", "Won (yes/no)", ("is won", "won")),
    Target("is_closed", "Closed (yes/no)", ("is closed", "closed")),
    Target(
        "lost_reason",
        "Lost reason",
        ("closed lost reason", "loss reason", "reason for loss", "lost reason"),
    ),
    Target("description", "Description", ("deal description", "notes", "next step")),
)

# Other systems' names for the won and lost stages, folded.
WON_NAMES = {"won", "closed won", "closedwon", "deal won", "closed win"}
LOST_NAMES = {"lost", "closed lost", "closedlost", "deal lost", "closed lost to competition"}
TRUE_WORDS = {"true", "yes", "y", "1", "x", "won", "closed"}
FALSE_WORDS = {"false", "no", "n", "0", ""}

# The service's field → the column a person mapped.
SERVICE_FIELDS = {
    "expected_close_date": "close_date",
    "at": "created_at",
    "stage_id": "stage",
    "pipeline": "stage",
}


@dataclass
class DealRun:
    job: object
    actor: object
    policy: str
    pipeline: Pipeline | None
    pipeline_problem: str = ""
    stages: dict = field(default_factory=dict)  # folded name → Stage
    first_stage: object = None
    won_stage: object = None
    lost_stage: object = None
    lost_reasons: dict = field(default_factory=dict)  # folded name → LostReason
    owners: Owners = field(default_factory=Owners)
    owner_problems: dict = field(default_factory=dict)  # user pk → problem or None
    # fingerprint → deal id (or "row:N" in a dry run) of the rows this run has seen.
    seen: dict = field(default_factory=dict)
    owner_column: str = "owner"


class DealImporter(Importer):
    entity = DEAL
    label = "Deals"
    targets = DEAL_TARGETS
    option_names = ("pipeline", "owner_map")
    looked_up_models = (Deal,)
    # The records a row creates, the column naming one, and the service's fields → columns.
    record_model = Deal
    title_column = "name"
    service_fields = SERVICE_FIELDS

    def option_fields(self) -> list[OptionField]:
        pipelines = Pipeline.objects.filter(is_archived=False).order_by("position", "name")
        return [
            OptionField(
                "pipeline",
                "Pipeline the deals go into",
                (("", "The default pipeline"), *((str(p.pk), p.name) for p in pipelines)),
                "The file's stages are matched to this pipeline's stages by name.",
            )
        ]

    # --- the run -------------------------------------------------------------------------------

    def begin(self, job) -> DealRun:
        options = job.options or {}
        run = DealRun(job=job, actor=job.created_by, policy=job.policy, pipeline=None)
        chosen = str(options.get("pipeline") or "").strip()
        pipelines = Pipeline.objects.filter(is_archived=False)
        if chosen:
            run.pipeline = next(
                (p for p in pipelines if str(p.pk) == chosen or fold(p.name) == fold(chosen)),
                None,
            )
            if run.pipeline is None:
                names = ", ".join(p.name for p in pipelines) or "none yet"
                run.pipeline_problem = f"No pipeline named {chosen!r}. Pipelines: {names}."
        else:
            run.pipeline = default_pipeline()
            if run.pipeline is None:
                run.pipeline_problem = "Create a pipeline first: deals are imported into one."
        if run.pipeline is not None:
            stages = list(run.pipeline.stages.order_by("position", "id"))
            for stage in stages:
                run.stages.setdefault(fold(stage.name), stage)
            run.first_stage = next((s for s in stages if s.kind == StageKind.OPEN), None)
            run.won_stage = next((s for s in stages if s.kind == StageKind.WON), None)
            run.lost_stage = next((s for s in stages if s.kind == StageKind.LOST), None)
        run.lost_reasons = {
            fold(reason.name): reason for reason in LostReason.objects.filter(is_active=True)
        }
        run.owners = Owners.load(options)
        return run

    def process_batch(self, rows: list[SourceRow], run, *, dry_run: bool):
        results = start_results(rows, self.entity)
        earlier = imported_before(run.job, self.entity, {row.fingerprint for row in rows})
        existing = self.record_model.objects.in_bulk(set(earlier.values()))
        organizations = self._organizations(rows, run)
        contacts = contacts_by_email_or_name(
            (row.values.get("contact", "") for row in rows), run.actor
        )

        def may_change(record) -> bool:
            return access.can(run.actor, Action.CHANGE, record)

        for row, result in zip(rows, results, strict=True):
            problem = self._problem(run)
            if problem:
                fail_row(result, *problem)
                continue
            # The same record twice in one file, or imported before: one record.
            if settle_known(
                result,
                seen=run.seen,
                key=row.fingerprint,
                record=existing.get(earlier.get(row.fingerprint)),
                policy=run.policy,
                may_change=may_change,
                column="source_id" if row.values.get("source_id") else self.title_column,
                not_yours=f"This {self.entity} was imported before and is not yours: the row "
                "was left out.",
            ):
                continue
            write = partial(self._write, row, run, organizations, contacts, result, dry_run=dry_run)
            if attempt(result, write, fields=self.service_fields):
                run.seen[row.fingerprint] = result.object_id or f"row:{row.number}"
        return results

    def _problem(self, run) -> tuple[str, str] | None:
        """A problem of the whole run every row is left out with: (column, message)."""
        return ("stage", run.pipeline_problem) if run.pipeline_problem else None

    def _write(self, row, run, organizations, contacts, result, *, dry_run: bool) -> None:
        data = self._clean(row, run, organizations, contacts)
        self._create(data, result, run, dry_run=dry_run)

    # --- batch lookups -------------------------------------------------------------------------

    def _organizations(self, rows, run) -> dict[str, list]:
        """Folded-case name → the organizations of that name the importer may see, those it may
        change first; one query for the batch."""
        found = organizations_by_name(
            (row.values.get("organization", "") for row in rows), run.actor
        )
        for candidates in found.values():
            candidates.sort(key=lambda o: not access.can(run.actor, Action.CHANGE, o))
        return found

    # --- one row -------------------------------------------------------------------------------

    def _clean(self, row: SourceRow, run: DealRun, organizations, contacts) -> dict:
        values, errors = row.values, []

        def fail(column, message):
            errors.append({"field": column, "message": message})

        data: dict = {"number": row.number}
        name = " ".join(values.get("name", "").split())
        if not name:
            fail("name", "Every deal needs a name.")
        elif len(name) > 200:
            fail("name", f"Use at most 200 characters (it has {len(name)}).")
        data["name"] = name
        data["amount"] = _amount(values.get("amount", ""))
        problems: dict[str, list[str]] = {}
        clean_amount(data["amount"], field="amount", errors=problems)
        for message in problems.get("amount", []):
            fail("amount", message)
        currency = values.get("currency", "").strip().upper()
        if currency and (len(currency) != 3 or not currency.isalpha() or not currency.isascii()):
            fail("currency", f"{currency[:20]!r} is not a currency: use a code such as EUR.")
        data["currency"] = currency or None
        data["stage"] = self._stage(values, run, fail)
        data["created_at"] = cell_moment(values, "created_at", fail, example="2024-03-31")
        if data["created_at"] and data["created_at"] > timezone.now():
            fail("created_at", "A creation date cannot be in the future.")
        close = cell_moment(values, "close_date", fail, example="2024-03-31")
        stage = data["stage"]
        if stage is not None and stage.kind != StageKind.OPEN:
            close = close or data["created_at"] or timezone.now()
            if close > timezone.now():
                fail("close_date", "A won or lost deal cannot close in the future.")
            if data["created_at"] and close < data["created_at"]:
                if close.date() == timezone.localtime(data["created_at"]).date():
                    close = data["created_at"]  # closed on the day it was created
                else:
                    fail("close_date", "The deal closes before it was created.")
        elif close is None and "close_date" not in {e["field"] for e in errors}:
            fail("close_date", "Give the expected close date, such as 2024-03-31.")
        data["close"] = close
        if stage is not None and stage.kind == StageKind.LOST:
            data["lost_reason"] = self._lost_reason(values.get("lost_reason", ""), run, fail)
        data["organization"] = self._pick(values.get("organization", ""), organizations, fail)
        data["contact"] = _contact(values.get("contact", ""), contacts, fail)
        data["owner"] = self._owner(values.get("owner", ""), run, fail)
        description = values.get("description", "").strip()
        if len(description) > 20_000:
            fail("description", "Use at most 20,000 characters.")
        data["description"] = description
        if errors:
            raise RowErrors(errors)
        return data

    def _stage(self, values: dict, run: DealRun, fail):
        raw = " ".join(values.get("stage", "").split())
        folded = fold(raw)
        closed = _flag(values.get("is_closed", ""))
        won = _flag(values.get("is_won", ""))
        if folded in run.stages:
            return run.stages[folded]
        if folded in WON_NAMES or folded.replace(" ", "") in WON_NAMES or (not raw and won):
            return run.won_stage or _missing(fail, "won", run)
        if (
            folded in LOST_NAMES
            or folded.replace(" ", "") in LOST_NAMES
            or folded.startswith("closed lost")
            or (not raw and closed and won is False)
        ):
            return run.lost_stage or _missing(fail, "lost", run)
        if raw and closed:
            # A stage of the other system's own, on a deal its flags say is closed.
            if won:
                return run.won_stage or _missing(fail, "won", run)
            return run.lost_stage or _missing(fail, "lost", run)
        if not raw:
            if run.first_stage is None:
                fail("stage", f"{run.pipeline.name} has no open stage; give each deal a stage.")
            return run.first_stage
        names = ", ".join(stage.name for stage in sorted(run.stages.values(), key=_by_position))
        fail("stage", f"{raw[:60]!r} is not a stage of {run.pipeline.name}. Use one of: {names}.")
        return None

    def _lost_reason(self, raw: str, run: DealRun, fail):
        text = " ".join(raw.split())
        names = ", ".join(reason.name for reason in run.lost_reasons.values())
        if not text:
            if run.lost_reasons:
                fail("lost_reason", f"Say why the deal was lost: one of {names}.")
            return None
        reason = run.lost_reasons.get(fold(text))
        if reason is None:
            fail(
                "lost_reason",
                f"{text[:60]!r} is not a lost reason. Use one of: {names or 'none are set up'}.",
            )
        return reason

    def _pick(self, raw: str, found: dict, fail):
        candidates = organizations_named(
            raw, found, fail, advice="import the organizations first, or leave the column empty"
        )
        return candidates[0] if candidates else None

    def _owner(self, raw: str, run, fail):
        user = run.owners.find(raw, run.owner_column, fail)
        if user is None:
            return None  # none, mapped to "the importer", or unknown
        if user.pk not in run.owner_problems:
            # Who may be given a deal: within the importer's reach. A task may be handed to
            # anyone active who can work it (the rule of `create_task`).
            giver = run.actor if run.owner_column == "owner" else None
            run.owner_problems[user.pk] = access.owner_problem(giver, user, Domain.SALES)
        problem = run.owner_problems[user.pk]
        if problem:
            fail(run.owner_column, problem)
            return None
        return user

    def _create(self, data: dict, result: RowResult, run: DealRun, *, dry_run: bool) -> None:
        stage = data["stage"]
        closed = stage.kind != StageKind.OPEN
        created = data["created_at"] or (data["close"] if closed else None)

        def write() -> int:
            deal = create_deal(
                actor=run.actor,
                name=data["name"],
                pipeline=run.pipeline,
                stage=run.first_stage if closed and run.first_stage else stage,
                expected_close_date=timezone.localtime(data["close"]).date()
                if data["close"]
                else None,
                amount=data["amount"],
                currency=data["currency"],
                owner=data["owner"],
                contact=data["contact"],
                organization=data["organization"],
                source="import",
                description=data["description"],
                lost_reason=data.get("lost_reason") if not run.first_stage else None,
                at=created,
            )
            if closed and run.first_stage:
                # Won or lost on the day the file says: the deal's history and the revenue
                # by month start then.
                move_deal(
                    actor=run.actor,
                    deal=deal,
                    stage=stage,
                    lost_reason=data.get("lost_reason"),
                    at=data["close"],
                )
            result.after = {
                "name": deal.name,
                "stage": stage.name,
                "amount": str(deal.amount),
                "currency": deal.currency,
            }
            return deal.pk

        write_row(result, write, dry_run=dry_run)

    # --- undo ----------------------------------------------------------------------------------

    def undo(self, job, rows, actor) -> dict:
        """Delete the records this import created, unless someone changed them since."""
        deletable = partial(access.can, actor, Action.DELETE)

        def audited(*, instances, message):
            # A won deal's order goes with it (it would otherwise record a deal that is gone).
            for record in instances:
                if isinstance(record, Deal) and record.status == DealStatus.WON:
                    withdraw_revenue(record, actor=actor, reason=f"was deleted: {message}")
            return record_deletions(actor=actor, instances=instances, message=message)

        return undo_created(
            job, rows, self.record_model, self.entity, deletable, audit_changed_since, audited
        )


def _by_position(stage):
    return (stage.position, stage.pk)


def _missing(fail, kind: str, run: DealRun):
    fail("stage", f"{run.pipeline.name} has no {kind} stage.")
    return None


def _flag(raw: str) -> bool | None:
    text = raw.strip().casefold()
    if not text:
        return None
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    return None


def _amount(raw: str) -> str:
    # "$12,500.00", "12 500.00 EUR": the number; the service checks it and says what is wrong.
    text = re.sub(r"^(?:[$€£¥]|[A-Z]{3}\s)\s*", "", raw.strip())
    text = re.sub(r"\s*(?:[$€£¥]|\s[A-Z]{3})$", "", text)
    return text.replace(" ", "").replace("\u00a0", "")


def _contact(raw: str, found: dict, fail):
    return contact_named(
        raw, found, fail, advice="import the contacts first, or leave the column empty"
    )


# --- tasks -------------------------------------------------------------------------------------

TASK = "task"

TASK_TARGETS = (
    Target(
        "source_id",
        "Task id in the other system",
        ("id", "record id", "task id", "activity id"),
        "The task's id where it comes from: importing the file again adds nothing.",
    ),
    Target("title", "Title", ("subject", "task title", "task name", "name")),
    Target(
        "due_at",
        "Due date",
        ("activity date", "due", "due date", "due date time", "due time"),
        "A date, or a date and time; a date alone is due at 09:00.",
    ),
    Target("status", "Status", ("task status",), "Done when it says completed or done."),
    Target("priority", "Priority", ("task priority",), "Low, normal, high or urgent."),
    Target(
        "assignee",
        "Assigned to",
        ("task owner", "owner", "assigned to", "owner email", "assignee", "owner name"),
        "A user's email address, username or full name; the importer when empty.",
    ),
    Target("description", "Description", ("notes", "body", "comments", "task notes")),
    Target(
        "contact",
        "Contact (email)",
        ("contact email", "email", "associated contact", "contact name", "contact"),
        "An email address or the contact's full name.",
    ),
    Target(
        "organization",
        "Organization",
        ("account name", "associated company", "company", "company name", "account"),
        "The organization's name, as Rapport has it.",
    ),
)

DONE_WORDS = {"completed", "complete", "done", "closed", "finished"}
PRIORITY_WORDS = {
    "lowest": "low",
    "low": "low",
    "normal": "normal",
    "medium": "normal",
    "none": "normal",
    "": "normal",
    "high": "high",
    "highest": "urgent",
    "urgent": "urgent",
}


@dataclass
class TaskRun:
    job: object
    actor: object
    policy: str
    owners: Owners = field(default_factory=Owners)
    owner_problems: dict = field(default_factory=dict)
    seen: dict = field(default_factory=dict)
    owner_column: str = "assignee"


class TaskImporter(DealImporter):
    """Tasks (Salesforce Task, HubSpot tasks, Zoho Tasks) through `sales.services.create_task`,
    linked to a contact by email or name and/or an organization by name; a completed one is
    completed through `complete_task` (on the import's day: the service takes no past date)."""

    entity = TASK
    label = "Tasks"
    targets = TASK_TARGETS
    option_names = ("owner_map",)
    looked_up_models = ()
    record_model = Task
    title_column = "title"
    service_fields = {}

    def option_fields(self) -> list[OptionField]:
        return []

    def begin(self, job) -> TaskRun:
        run = TaskRun(job=job, actor=job.created_by, policy=job.policy)
        run.owners = Owners.load(job.options or {})
        return run

    def _problem(self, run) -> tuple[str, str] | None:
        return None

    def _write(self, row, run, organizations, contacts, result, *, dry_run: bool) -> None:
        data = self._clean_task(row, run, organizations, contacts)
        self._create_task(data, result, run, dry_run=dry_run)

    def _clean_task(self, row: SourceRow, run: TaskRun, organizations, contacts) -> dict:
        values, errors = row.values, []

        def fail(column, message):
            errors.append({"field": column, "message": message})

        data: dict = {}
        title = " ".join(values.get("title", "").split())
        if not title:
            fail("title", "Every task needs a title.")
        elif len(title) > 200:
            fail("title", f"Use at most 200 characters (it has {len(title)}).")
        data["title"] = title
        raw_due = values.get("due_at", "").strip()
        due = cell_moment(values, "due_at", fail, missing="Give the due date, such as 2024-03-31.")
        if due is not None and ":" not in raw_due and "T" not in raw_due:
            due = due.replace(hour=9)  # a day alone: due in the morning
        data["due_at"] = due
        priority = PRIORITY_WORDS.get(fold(values.get("priority", "")))
        if priority is None:
            fail("priority", "Use low, normal, high or urgent.")
        data["priority"] = priority or "normal"
        data["done"] = fold(values.get("status", "")) in DONE_WORDS
        data["description"] = values.get("description", "").strip()
        data["organization"] = self._pick(values.get("organization", ""), organizations, fail)
        data["contact"] = _contact(values.get("contact", ""), contacts, fail)
        data["assignee"] = self._owner(values.get("assignee", ""), run, fail)
        if errors:
            raise RowErrors(errors)
        return data

    def _create_task(self, data: dict, result: RowResult, run: TaskRun, *, dry_run: bool):
        done = data.pop("done")

        def write() -> int:
            task = create_task(actor=run.actor, **data)
            if done:
                task = complete_task(actor=run.actor, task=task)
            result.after = {"title": task.title, "status": task.status}
            return task.pk

        write_row(result, write, dry_run=dry_run)
