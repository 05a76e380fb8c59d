"""What a workflow does: one small class per kind of step, in a registry other apps add to.

A step declares its settings (`params`), says in words what it will do (`describe`) and what it
would do for one record (`preview`, the dry run: reads only), and does it (`run`) by calling the
owning app's SERVICE, never by writing models. Steps act as the system (`actor=None`): a
workflow is an administrator's configuration and runs whoever's record it meets, as HubSpot's
do; each service's audit record is stamped with the run (see `runner`), and the run records
"by workflow X" on the record's history.

Another app adds a step with `register_step(MyStep())` from its `AppConfig.ready()` (the
sequences app registers "enrol in a sequence" so).

Branches ("if / else" and "continue only if") are steps too; the runner lays them out with
jumps (`runner.compile_steps`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils import timezone

from rapport.automation import records
from rapport.automation.models import RecordType, StepStatus
from rapport.automation.params import Param, choice_label, clean_params
from rapport.core import display
from rapport.core.ids import id_from_text

ALL_TYPES = (RecordType.CONTACT, RecordType.DEAL, RecordType.OBJECTIVE)
PEOPLE = (RecordType.CONTACT, RecordType.DEAL)


@dataclass
class StepContext:
    """What a step sees: the workflow, the run (None in a dry run), the record, its settings."""

    workflow: object
    run: object
    record_type: str
    record: object
    settings: dict
    key: str
    now: dt.datetime = field(default_factory=timezone.now)
    # The work context the run's changes are stamped with (`runner.work_of`), for a step
    # taken for many runs at once.
    work: dict = field(default_factory=dict)

    @property
    def by(self) -> str:
        return f"by workflow “{self.workflow.name}”"


@dataclass
class Result:
    status: str
    outcome: str
    error: str = ""
    wait_until: dt.datetime | None = None
    stop: bool = False


def done(outcome: str) -> Result:
    return Result(StepStatus.DONE, outcome)


def failed(error: str) -> Result:
    return Result(StepStatus.FAILED, "", error=error[:500])


def _messages(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


class Step:
    """A kind of step. Subclasses set `type`, `label`, `params` and write `run`/`preview`."""

    type = ""
    label = ""
    record_types: tuple[str, ...] = PEOPLE
    params: list[Param] = []
    # Branch steps hold step lists ("yes"/"no") the runner lays out.
    branches: tuple[str, ...] = ()

    def params_for(self, record_type: str) -> list[Param]:
        return self.params

    def clean(self, settings: dict, record_type: str, errors: dict, prefix: str) -> dict:
        return clean_params(self.params_for(record_type), settings, errors, prefix)

    def describe(self, settings: dict, record_type: str) -> str:
        return self.label

    def run(self, ctx: StepContext) -> Result:  # pragma: no cover - every step overrides it
        raise NotImplementedError

    def takes_together(self, record_type: str) -> bool:
        """Whether `run_many` can take this step for many records of the type at once."""
        return False

    def run_many(self, contexts: list[StepContext]) -> list[Result]:
        """`run` for each context (one per record, all with the same settings), at once: the
        same effects, records and results, or an exception and nothing written (the runner
        then takes them one by one)."""
        raise NotImplementedError

    def preview(self, ctx: StepContext) -> str:
        words = self.describe(ctx.settings, ctx.record_type)
        return f"Would {words[:1].lower()}{words[1:]}"

    def _label(self, name: str, settings: dict, record_type: str) -> str:
        param = next(p for p in self.params_for(record_type) if p.name == name)
        return choice_label(param, settings.get(name, ""))


STEPS: dict[str, Step] = {}


def register_step(step: Step) -> None:
    """Offer a kind of step to every workflow (from an AppConfig.ready())."""
    STEPS[step.type] = step


def available(record_type: str) -> list[Step]:
    return [step for step in STEPS.values() if record_type in step.record_types]


# --- choices ---------------------------------------------------------------------------------


def _users():
    from rapport.accounts.models import User

    return [(str(u.pk), str(u)) for u in User.objects.filter(is_active=True).order_by("username")]


def _templates():
    from rapport.mail.models import EmailTemplate

    return [(str(t.pk), t.name) for t in EmailTemplate.objects.filter(is_archived=False)]


def _mailboxes():
    from rapport.mail.models import Mailbox

    return [(str(m.pk), f"{m.name} <{m.email_address}>") for m in Mailbox.objects.all() if m.sends]


def _stages():
    from rapport.sales.models import Stage

    rows = Stage.objects.select_related("pipeline").order_by("pipeline__position", "position")
    return [(str(s.pk), f"{s.pipeline.name} · {s.name}") for s in rows]


def _static_lists():
    from rapport.analytics.choices import SegmentKind
    from rapport.analytics.models import Segment

    lists = Segment.objects.filter(kind=SegmentKind.STATIC, is_archived=False).order_by("name")
    return [(str(s.pk), s.name) for s in lists]


def _priorities():
    from rapport.sales.choices import TaskPriority

    return list(TaskPriority.choices)


def _named(model_path: str, render=str):
    """label_of for a choice of records: the one record's name, by its id."""

    def label_of(value: str) -> str | None:
        record = _get(model_path, value)
        return render(record) if record is not None else None

    return label_of


def _get(model_path: str, pk):
    from django.apps import apps

    model = apps.get_model(model_path)
    record_id = id_from_text(pk)
    return None if record_id is None else model.objects.filter(pk=record_id).first()


# --- steps -----------------------------------------------------------------------------------


class SendEmail(Step):
    type = "send_email"
    label = "Send an email template"
    params = [
        Param(
            "template",
            "Template",
            "choice",
            required=True,
            choices=_templates,
            label_of=_named("mail.EmailTemplate", lambda t: t.name),
        ),
        Param("mailbox", "From mailbox", "choice", required=True, choices=_mailboxes),
    ]

    def describe(self, settings, record_type):
        return f"Send “{self._label('template', settings, record_type)}”"

    def _parts(self, ctx):
        from rapport.mail.models import EmailTemplate, Mailbox

        template = EmailTemplate.objects.filter(
            pk=ctx.settings.get("template"), is_archived=False
        ).first()
        mailbox = Mailbox.objects.filter(pk=ctx.settings.get("mailbox")).first()
        contact = records.contact_of(ctx.record)
        if template is None:
            return None, "The email template was deleted; choose another in the workflow."
        if mailbox is None or not mailbox.sends:
            return None, "The mailbox was removed or cannot send; choose another."
        if contact is None or not contact.primary_email:
            return None, "The contact has no email address."
        return (template, mailbox, contact), ""

    def preview(self, ctx):
        parts, problem = self._parts(ctx)
        if parts is None:
            return f"Would not send: {problem}"
        from rapport.mail import tracking

        template, mailbox, contact = parts
        refusals = tracking.consent_problems(
            recipients=[(contact.primary_email, contact)], purpose=template.purpose
        )
        if refusals:
            return f"Would be refused: {' '.join(refusals.values())}"
        return (
            f"Would send “{template.name}” from {mailbox.email_address} to {contact.primary_email}"
        )

    def run(self, ctx):
        from rapport.mail.sending import send_email

        parts, problem = self._parts(ctx)
        if parts is None:
            return failed(problem)
        template, mailbox, contact = parts
        try:
            message = send_email(
                actor=None,
                mailbox=mailbox,
                to=[contact.primary_email],
                subject=template.subject,
                body_html=template.body_html,
                contact=contact,
                deal=ctx.record if ctx.record_type == RecordType.DEAL else None,
                template=template,
                purpose=template.purpose,
            )
        except ValidationError as exc:
            # Consent, suppression and the daily limit are refusals the step reports, not bugs.
            refused = {"to", "cc", "bcc", "mailbox"} & set(getattr(exc, "error_dict", {}) or {})
            if refused:
                return Result(StepStatus.REFUSED, "Not sent: " + _messages(exc))
            return failed(_messages(exc))
        # The address stays out of the run's words: they outlive an erasure of the contact.
        return done(f"Sent “{template.name}” (message {message.pk}, queued)")


class CreateTask(Step):
    type = "create_task"
    label = "Create a task for the record's owner"
    record_types = ALL_TYPES
    params = [
        Param("title", "Task", "text", required=True, max_length=200),
        Param("due_in_days", "Due in (days)", "number", minimum=0, maximum=365, default=1),
        Param("priority", "Priority", "choice", choices=_priorities, default="normal"),
    ]

    def describe(self, settings, record_type):
        return f"Create the task “{settings.get('title', '')}” for the owner"

    def preview(self, ctx):
        owner = records.owner_of(ctx.record)
        if owner is None:
            return "Would fail: the record has no owner to give the task to"
        return f"Would create the task “{ctx.settings['title']}” for {owner}"

    def run(self, ctx):
        from rapport.sales.services.work import create_task

        owner = records.owner_of(ctx.record)
        if owner is None:
            return failed("The record has no owner to give the task to.")
        links = {}
        if ctx.record_type == RecordType.CONTACT:
            links["contact"] = ctx.record
        elif ctx.record_type == RecordType.DEAL:
            links["deal"] = ctx.record
        task = create_task(
            actor=None,
            title=ctx.settings["title"],
            due_at=ctx.now + dt.timedelta(days=int(ctx.settings.get("due_in_days", 1))),
            assignee=owner,
            priority=ctx.settings.get("priority", "normal"),
            description=f"Created {ctx.by} for {records.label(ctx.record)}.",
            **links,
        )
        return done(f"Task “{task.title}” created for {owner}")


class AssignOwner(Step):
    type = "assign_owner"
    label = "Assign an owner"
    params = [
        Param(
            "user",
            "Owner",
            "choice",
            required=True,
            choices=_users,
            label_of=_named("accounts.User"),
        )
    ]

    def describe(self, settings, record_type):
        return f"Give the record to {self._label('user', settings, record_type)}"

    def run(self, ctx):
        from rapport.contacts.services import update_contact
        from rapport.sales.services.deals import update_deal

        user = _get("accounts.User", ctx.settings["user"])
        if user is None or not user.is_active:
            return failed("The chosen owner no longer exists or is deactivated.")
        if ctx.record.owner_id == user.pk:
            return Result(StepStatus.SKIPPED, f"{user} already owns it")
        if ctx.record_type == RecordType.CONTACT:
            update_contact(actor=None, contact=ctx.record, owner=user)
        else:
            update_deal(actor=None, deal=ctx.record, owner=user)
        return done(f"Given to {user}")


CONTACT_WRITABLE = {
    "first_name": "First name",
    "last_name": "Last name",
    "job_title": "Job title",
    "city": "City",
    "region": "Region",
    "country": "Country (ISO code)",
    "source_detail": "Source detail",
    "lifecycle_stage": "Lifecycle stage",
}
DEAL_WRITABLE = {
    "name": "Deal name",
    "amount": "Amount",
    "expected_close_date": "Expected close date (YYYY-MM-DD)",
    "description": "Description",
}


def _writable(record_type: str) -> list[tuple[str, str]]:
    from rapport.customfields.choices import Entity
    from rapport.customfields.models import CustomFieldDefinition

    base = CONTACT_WRITABLE if record_type == RecordType.CONTACT else DEAL_WRITABLE
    entity = Entity.CONTACT if record_type == RecordType.CONTACT else Entity.DEAL
    pairs = list(base.items())
    for definition in CustomFieldDefinition.objects.filter(entity=entity, is_active=True):
        pairs.append((f"custom.{definition.key}", definition.label))
    return pairs


class UpdateField(Step):
    type = "update_field"
    label = "Update a field"

    def params_for(self, record_type):
        return [
            Param(
                "field",
                "Field",
                "choice",
                required=True,
                choices=lambda: _writable(record_type),
            ),
            Param("value", "New value", "text", max_length=500),
        ]

    def describe(self, settings, record_type):
        name = self._label("field", settings, record_type)
        return f"Set {name} to “{settings.get('value', '')}”"

    def run(self, ctx):
        from rapport.contacts.services import set_lifecycle_stage, update_contact
        from rapport.sales.services.deals import update_deal

        name, value = ctx.settings["field"], ctx.settings.get("value", "")
        label = self._label("field", ctx.settings, ctx.record_type)
        if name == "lifecycle_stage":
            set_lifecycle_stage(actor=None, contact=ctx.record, stage=value, reason=ctx.by)
        else:
            changes = (
                {"custom_fields": {name.removeprefix("custom."): value or None}}
                if name.startswith("custom.")
                else {name: value}
            )
            if ctx.record_type == RecordType.CONTACT:
                update_contact(actor=None, contact=ctx.record, **changes)
            else:
                update_deal(actor=None, deal=ctx.record, **changes)
        return done(f"{label} set to “{value}”")


class _TagStep(Step):
    params = [Param("tag", "Tag", "text", required=True, max_length=50)]
    adds = True

    def describe(self, settings, record_type):
        verb = "Add" if self.adds else "Remove"
        return f"{verb} the tag “{settings.get('tag', '')}”"

    def run(self, ctx):
        from rapport.contacts.services import update_contact
        from rapport.sales.services.deals import update_deal

        tag = ctx.settings["tag"]
        current = list(ctx.record.tags.values_list("name", flat=True))
        has = any(name.casefold() == tag.casefold() for name in current)
        if has == self.adds:
            return self._result(tag, changed=False)
        tags = (
            [*current, tag]
            if self.adds
            else [name for name in current if name.casefold() != tag.casefold()]
        )
        if ctx.record_type == RecordType.CONTACT:
            update_contact(actor=None, contact=ctx.record, tags=tags)
        else:
            update_deal(actor=None, deal=ctx.record, tags=tags)
        return self._result(tag, changed=True)

    def _result(self, tag: str, *, changed: bool) -> Result:
        if changed:
            return done(f"Tag “{tag}” {'added' if self.adds else 'removed'}")
        return Result(
            StepStatus.SKIPPED, f"Already tagged “{tag}”" if self.adds else f"Not tagged “{tag}”"
        )

    def takes_together(self, record_type):
        return record_type == RecordType.CONTACT

    def run_many(self, contexts):
        from rapport.contacts.tagging import tag_contacts

        tag = contexts[0].settings["tag"]
        changed = tag_contacts(
            actor=None,
            contacts=[ctx.record for ctx in contexts],
            tag=tag,
            adds=self.adds,
            work={ctx.record.pk: ctx.work for ctx in contexts},
        )
        return [self._result(tag, changed=changed[ctx.record.pk]) for ctx in contexts]


class AddTag(_TagStep):
    type = "add_tag"
    label = "Add a tag"


class RemoveTag(_TagStep):
    type = "remove_tag"
    label = "Remove a tag"
    adds = False


class MoveDeal(Step):
    type = "move_deal"
    label = "Move the deal to a stage"
    record_types = (RecordType.DEAL,)
    params = [
        Param(
            "stage",
            "Stage",
            "choice",
            required=True,
            choices=_stages,
            label_of=_named("sales.Stage", lambda s: f"{s.pipeline.name} · {s.name}"),
        )
    ]

    def describe(self, settings, record_type):
        return f"Move the deal to {self._label('stage', settings, record_type)}"

    def run(self, ctx):
        from rapport.sales.services.deals import move_deal

        stage = _get("sales.Stage", ctx.settings["stage"])
        if stage is None:
            return failed("The stage was deleted; choose another in the workflow.")
        if stage.pipeline_id != ctx.record.pipeline_id:
            return failed(f"The stage {stage.name} is in another pipeline than the deal.")
        change = move_deal(actor=None, deal=ctx.record, stage=stage)
        if change is None:
            return Result(StepStatus.SKIPPED, f"Already in {stage.name}")
        return done(f"Moved to {stage.name}")


class AddToList(Step):
    type = "add_to_list"
    label = "Add to a static list"
    params = [
        Param(
            "list",
            "List",
            "choice",
            required=True,
            choices=_static_lists,
            label_of=_named("analytics.Segment", lambda s: s.name),
        )
    ]

    def describe(self, settings, record_type):
        return f"Add to the list “{self._label('list', settings, record_type)}”"

    def run(self, ctx):
        from rapport.analytics.services import add_to_list

        segment = _get("analytics.Segment", ctx.settings["list"])
        contact = records.contact_of(ctx.record)
        if segment is None or segment.is_archived:
            return failed("The list was deleted; choose another in the workflow.")
        if contact is None:
            return failed("The deal has no contact to put on the list.")
        # The analytics services scope list members by their actor, and the system sees no
        # contact there: the list's owner (else the workflow's author) puts the contact on it.
        actor = segment.created_by or ctx.workflow.created_by
        added = add_to_list(actor=actor, segment=segment, contact_ids=[contact.pk])
        if not added:
            return Result(StepStatus.SKIPPED, f"Already on “{segment.name}”")
        return done(f"Added to “{segment.name}”")


class NotifyUser(Step):
    type = "notify_user"
    label = "Notify a user"
    record_types = ALL_TYPES

    def params_for(self, record_type):
        return [
            Param(
                "user",
                "Who",
                "choice",
                required=True,
                choices=lambda: [("owner", "The record's owner"), *_users()],
                default="owner",
                label_of=lambda value: (
                    "the record's owner" if value == "owner" else _named("accounts.User")(value)
                ),
            ),
            Param("title", "Title", "text", required=True, max_length=200),
            Param("message", "Message", "long_text", max_length=500),
        ]

    def describe(self, settings, record_type):
        return f"Notify {self._label('user', settings, record_type)}: “{settings.get('title', '')}”"

    def _recipient(self, ctx):
        if ctx.settings.get("user", "owner") == "owner":
            return records.owner_of(ctx.record)
        return _get("accounts.User", ctx.settings["user"])

    def preview(self, ctx):
        recipient = self._recipient(ctx)
        if recipient is None or not recipient.is_active:
            return "Would notify nobody: no such active user"
        return f"Would notify {recipient}: “{ctx.settings['title']}”"

    NOBODY = "Nobody to notify: the record has no owner, or the user is deactivated."

    def _notice(self, ctx, recipient) -> dict:
        return {
            "recipient": recipient,
            "kind": "workflow",
            "title": ctx.settings["title"],
            "body": ctx.settings.get("message", "") or f"{records.label(ctx.record)} ({ctx.by})",
            "url": records.url_of(ctx.record),
            "dedupe_key": f"workflow-run:{ctx.run.pk}:{ctx.key}",
        }

    def run(self, ctx):
        from rapport.sales.services.work import notify

        recipient = self._recipient(ctx)
        if recipient is None or not recipient.is_active:
            return failed(self.NOBODY)
        notify(**self._notice(ctx, recipient))
        return done(f"{recipient} notified")

    def takes_together(self, record_type):
        return True

    def run_many(self, contexts):
        from rapport.sales.services.notifications import Notice, notify_many

        chosen = contexts[0].settings.get("user", "owner")
        someone = None if chosen == "owner" else _get("accounts.User", chosen)
        results, notices = [], []
        for ctx in contexts:
            recipient = records.owner_of(ctx.record) if chosen == "owner" else someone
            if recipient is None or not recipient.is_active:
                results.append(failed(self.NOBODY))
                continue
            notices.append(Notice(**self._notice(ctx, recipient)))
            results.append(done(f"{recipient} notified"))
        notify_many(notices)
        return results


class CallWebhook(Step):
    type = "call_webhook"
    label = "Call a webhook"
    record_types = ALL_TYPES
    params = [Param("url", "URL", "text", required=True, max_length=2000)]

    def clean(self, settings, record_type, errors, prefix):
        from rapport.automation import webhooks

        clean = super().clean(settings, record_type, errors, prefix)
        if clean.get("url"):
            problem = webhooks.url_problem(clean["url"])
            if problem:
                errors[f"{prefix}.url"] = [problem]
        return clean

    def describe(self, settings, record_type):
        return f"POST the record to {settings.get('url', '')}"

    def payload(self, ctx) -> dict:
        return {
            "type": "workflow.step",
            "timestamp": ctx.now.isoformat(),
            "data": {
                "workflow_id": ctx.workflow.pk,
                "workflow": ctx.workflow.name,
                "run_id": ctx.run.pk if ctx.run else None,
                "step": ctx.key,
                "record_type": ctx.record_type,
                "record_id": ctx.record.pk,
                "record": records.label(ctx.record),
            },
        }

    def run(self, ctx):
        from standardwebhooks import Webhook

        from rapport.automation import webhooks
        from rapport.core import outbound
        from rapport.mail import secrets as stored_secrets

        try:
            secret = stored_secrets.decrypt(ctx.workflow.signing_secret_encrypted)
        except stored_secrets.SecretUnreadable:
            return failed("The workflow's signing secret cannot be read with this server's key.")
        body = json.dumps(self.payload(ctx), separators=(",", ":"), sort_keys=True).encode()
        msg_id = f"wfrun_{ctx.run.pk}_{ctx.key}"
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(math.floor(ctx.now.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id=msg_id, timestamp=ctx.now, data=body),
        }
        try:
            response = outbound.send(
                "POST",
                ctx.settings["url"],
                headers=headers,
                body=body,
                timeouts=webhooks.timeouts(),
                max_bytes=webhooks.EXCERPT_CHARS,
                allow_private=webhooks.allow_private(),
            )
        except (outbound.OutboundRefused, outbound.OutboundFailed) as exc:
            return failed(exc.reason)
        if not 200 <= response.status < 300:
            return failed(f"The receiver answered {response.status}.")
        return done(f"The receiver answered {response.status}")


class _ReadsOnly:
    """A step whose `run` writes nothing and reads only the record in hand, so taking it for
    many runs is taking it for each in turn (their records are written together)."""

    def takes_together(self, record_type):
        return True

    def run_many(self, contexts):
        return [self.run(ctx) for ctx in contexts]


class Wait(_ReadsOnly, Step):
    type = "wait"
    label = "Wait"
    record_types = ALL_TYPES
    params = [
        Param("days", "Days", "number", minimum=0, maximum=365, default=0),
        Param("hours", "Hours", "number", minimum=0, maximum=23, default=0),
        Param("minutes", "Minutes", "number", minimum=0, maximum=59, default=0),
    ]

    def clean(self, settings, record_type, errors, prefix):
        clean = super().clean(settings, record_type, errors, prefix)
        if not any(errors.get(f"{prefix}.{p.name}") for p in self.params) and not any(
            clean.get(p.name) for p in self.params
        ):
            errors[f"{prefix}.days"] = ["Wait at least one minute."]
        return clean

    @staticmethod
    def duration(settings) -> dt.timedelta:
        return dt.timedelta(
            days=int(settings.get("days", 0)),
            hours=int(settings.get("hours", 0)),
            minutes=int(settings.get("minutes", 0)),
        )

    def describe(self, settings, record_type):
        parts = [
            f"{settings[name]} {name if settings[name] != 1 else name[:-1]}"
            for name in ("days", "hours", "minutes")
            if settings.get(name)
        ]
        return "Wait " + ", ".join(parts)

    def until(self, ctx) -> dt.datetime:
        return ctx.now + self.duration(ctx.settings)

    def preview(self, ctx):
        return f"Would wait until {display.moment_text(self.until(ctx))}"

    def run(self, ctx):
        until = self.until(ctx)
        return Result(
            StepStatus.WAITING,
            f"Waiting until {display.moment_text(until, 'dated')}",
            wait_until=until,
        )


class WaitUntilDate(_ReadsOnly, Step):
    type = "wait_until_date"
    label = "Wait until a date"
    record_types = ALL_TYPES

    def params_for(self, record_type):
        return [
            Param(
                "date_field",
                "Date field",
                "choice",
                required=True,
                choices=lambda: list(records.date_fields(record_type).items()),
            ),
            Param("days", "Days", "number", minimum=0, maximum=3650, default=0),
            Param(
                "when",
                "Before or after",
                "choice",
                choices=lambda: [("before", "before"), ("after", "after")],
                default="before",
            ),
            Param("time", "At (local time)", "time", default="09:00"),
        ]

    def describe(self, settings, record_type):
        name = self._label("date_field", settings, record_type)
        days = settings.get("days", 0)
        if not days:
            return f"Wait until {name}"
        return f"Wait until {days} days {settings.get('when', 'before')} {name}"

    def until(self, ctx) -> dt.datetime | None:
        day = records.date_value(ctx.record_type, ctx.record, ctx.settings["date_field"])
        if day is None:
            return None
        days = int(ctx.settings.get("days", 0))
        day += dt.timedelta(days=-days if ctx.settings.get("when", "before") == "before" else days)
        moment = dt.time.fromisoformat(ctx.settings.get("time", "09:00"))
        return timezone.make_aware(dt.datetime.combine(day, moment))

    def preview(self, ctx):
        until = self.until(ctx)
        if until is None:
            return "Would go on at once: the date is empty"
        if until <= ctx.now:
            return "Would go on at once: the date has passed"
        return f"Would wait until {display.moment_text(until)}"

    def run(self, ctx):
        until = self.until(ctx)
        if until is None:
            return done("Went on at once: the date is empty")
        if until <= ctx.now:
            return done("Went on at once: the date has passed")
        return Result(
            StepStatus.WAITING,
            f"Waiting until {display.moment_text(until, 'dated')}",
            wait_until=until,
        )


class _ConditionStep(Step):
    record_types = ALL_TYPES
    params = [Param("condition", "Condition", "condition", required=True)]

    def clean(self, settings, record_type, errors, prefix):
        from rapport.core.conditions import ConditionError

        clean = super().clean(settings, record_type, errors, prefix)
        if "condition" in clean:
            try:
                records.check_conditions(record_type, clean["condition"])
            except ConditionError as exc:
                errors[f"{prefix}.condition"] = [exc.in_words]
        return clean

    def check(self, ctx) -> tuple[bool, str]:
        condition = ctx.settings.get("condition") or {"all": []}
        holds = records.matches(ctx.record_type, condition, ctx.record.pk, now=ctx.now)
        words = records.describe(ctx.record_type, condition)
        if holds:
            return True, f"Met: {words}"
        misses = records.explain(ctx.record_type, condition, ctx.record.pk, now=ctx.now)
        return False, "Not met: " + ("; ".join(misses) if misses else words)

    def check_many(self, contexts: list[StepContext]) -> list[tuple[bool, str]]:
        """`check` for many records (one context each, the same settings): a query for the
        condition and one per condition that fails for some of them, not per record."""
        first = contexts[0]
        condition = first.settings.get("condition") or {"all": []}
        ids = [ctx.record.pk for ctx in contexts]
        holding = records.matching_ids(first.record_type, condition, ids, now=first.now)
        words = records.describe(first.record_type, condition)
        failing = [pk for pk in ids if pk not in holding]
        misses = records.explain_many(first.record_type, condition, failing, now=first.now)
        return [
            (True, f"Met: {words}")
            if pk in holding
            else (False, "Not met: " + ("; ".join(misses[pk]) if misses[pk] else words))
            for pk in ids
        ]


class Branch(_ConditionStep):
    type = "branch"
    label = "If / else"
    branches = ("yes", "no")

    def describe(self, settings, record_type):
        return "If " + records.describe(record_type, settings.get("condition"))


class ContinueIf(_ConditionStep):
    type = "continue_if"
    label = "Continue only if"

    def describe(self, settings, record_type):
        return "Continue only if " + records.describe(record_type, settings.get("condition"))


for _step in (
    SendEmail(),
    CreateTask(),
    AssignOwner(),
    UpdateField(),
    AddTag(),
    RemoveTag(),
    MoveDeal(),
    AddToList(),
    NotifyUser(),
    CallWebhook(),
    Wait(),
    WaitUntilDate(),
    Branch(),
    ContinueIf(),
):
    register_step(_step)


MAX_STEPS = 100


def clean_steps(raw, record_type: str, errors: dict, prefix: str = "steps", counter=None) -> list:
    """A list of steps checked for the record type (nested branches included)."""
    counter = counter if counter is not None else [0]
    if not isinstance(raw, list):
        errors[prefix] = ["Give a list of steps."]
        return []
    clean = []
    for index, item in enumerate(raw):
        counter[0] += 1
        path = f"{prefix}[{index}]"
        if counter[0] > MAX_STEPS:
            errors[path] = [f"At most {MAX_STEPS} steps in a workflow."]
            break
        kind = item.get("type") if isinstance(item, dict) else None
        step = STEPS.get(kind)
        if step is None or record_type not in step.record_types:
            offered = ", ".join(s.type for s in available(record_type))
            errors[f"{path}.type"] = [f"Choose a step for this record type: {offered}."]
            continue
        settings = {k: v for k, v in item.items() if k not in step.branches}
        cleaned = {"type": kind, **step.clean(settings, record_type, errors, path)}
        for branch in step.branches:
            cleaned[branch] = clean_steps(
                item.get(branch, []), record_type, errors, f"{path}.{branch}", counter
            )
        clean.append(cleaned)
    return clean
