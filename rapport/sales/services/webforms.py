"""Web forms: building them, and turning a public submission into a lead on its timeline."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from rapport.accounts import access
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.contacts.choices import (
    LEAD_STAGES,
    ConsentChannel,
    ConsentStatus,
    ContactSource,
    LawfulBasis,
    LifecycleStage,
)
from rapport.contacts.identity import normalize_email, normalize_phone
from rapport.contacts.models import Contact, ContactEmail, ContactPhone, Organization
from rapport.contacts.services import (
    add_membership,
    create_contact,
    create_organization,
    set_consent,
    set_lifecycle_stage,
    update_contact,
)
from rapport.core.events import emit
from rapport.customfields.choices import Entity, FieldType
from rapport.customfields.services import definitions_for
from rapport.customfields.validation import clean_value
from rapport.interactions.choices import Channel, Direction, InteractionKind
from rapport.interactions.services import log_interaction
from rapport.sales import events
from rapport.sales.models import WebForm, WebFormRateCounter, WebFormSubmission
from rapport.sales.services.leads import _add_products
from rapport.sales.services.validation import clean_text

HONEYPOT = "website"
MAX_FIELDS = 40
MAX_BODY_BYTES = 32 * 1024


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    input_type: str  # text, email, tel, textarea, select, checkbox, date, number
    limit: int
    choices: tuple[str, ...] = ()


STANDARD_TARGETS = {
    "first_name": Target("first_name", "First name", "text", 100),
    "last_name": Target("last_name", "Last name", "text", 100),
    "email": Target("email", "Email", "email", 254),
    "phone": Target("phone", "Phone", "tel", 40),
    "company": Target("company", "Company", "text", 200),
    "job_title": Target("job_title", "Job title", "text", 150),
    "city": Target("city", "City", "text", 100),
    "postcode": Target("postcode", "Postcode", "text", 20),
    "region": Target("region", "Region", "text", 100),
    # Longer than a code on purpose: "Germany" gets "use a two-letter code", not "too long".
    "country": Target("country", "Country (two-letter code)", "text", 60),
    "products_of_interest": Target("products_of_interest", "Products of interest", "text", 500),
    "message": Target("message", "Message", "textarea", 5000),
}
_CUSTOM_INPUT = {
    FieldType.LONG_TEXT: "textarea",
    FieldType.NUMBER: "number",
    FieldType.DECIMAL: "text",
    FieldType.DATE: "date",
    FieldType.BOOLEAN: "checkbox",
    FieldType.CHOICE: "select",
    FieldType.MULTI_CHOICE: "select",
    FieldType.EMAIL: "email",
    FieldType.URL: "url",
}


def available_targets() -> dict[str, Target]:
    """Contact fields a form may fill, including every active contact custom field."""
    targets = dict(STANDARD_TARGETS)
    for definition in definitions_for(Entity.CONTACT):
        key = f"custom_fields.{definition.key}"
        targets[key] = Target(
            key,
            definition.label,
            _CUSTOM_INPUT.get(definition.field_type, "text"),
            definition.max_length
            or (10_000 if definition.field_type == FieldType.LONG_TEXT else 255),
            tuple(definition.choices or ()),
        )
    return targets


def _uses_custom_fields(form: WebForm) -> bool:
    return any(str(spec.get("target", "")).startswith("custom_fields.") for spec in form.fields)


def form_fields(form: WebForm) -> list[dict]:
    """The form's fields as rendered: target, label, input type, required, choices."""
    # Custom field definitions are read only for a form that has such a field: most forms
    # don't, and the public endpoint renders this list on every submission.
    targets = available_targets() if _uses_custom_fields(form) else STANDARD_TARGETS
    rendered = []
    for spec in form.fields:
        target = targets.get(spec.get("target"))
        if target is None:
            continue  # a custom field deactivated since the form was built
        rendered.append(
            {
                "name": target.key,
                "label": spec.get("label") or target.label,
                "input_type": target.input_type,
                "required": bool(spec.get("required")),
                "limit": target.limit,
                "choices": target.choices,
            }
        )
    return rendered


# -- building forms ----------------------------------------------------------------------------

FORM_FIELDS = {
    "name",
    "description",
    "is_active",
    "fields",
    "source",
    "source_detail",
    "campaign",
    "lifecycle_stage",
    "submit_label",
    "thank_you_message",
    "redirect_url",
    "consent_enabled",
    "consent_text",
    "allowed_origins",
    "max_submissions_per_minute",
}


def _clean_field_specs(raw, errors: dict) -> list[dict]:
    if not isinstance(raw, list) or not raw:
        errors.setdefault("fields", []).append("Choose at least one field.")
        return []
    if len(raw) > MAX_FIELDS:
        errors.setdefault("fields", []).append(f"At most {MAX_FIELDS} fields.")
        return []
    targets = available_targets()
    cleaned, seen = [], set()
    for index, spec in enumerate(raw):
        if not isinstance(spec, dict):
            errors.setdefault(f"fields[{index}]", []).append("Must be an object.")
            continue
        target = spec.get("target")
        if target not in targets:
            errors.setdefault(f"fields[{index}].target", []).append(
                f"Unknown field {str(target)[:60]!r}."
            )
            continue
        if target in seen:
            errors.setdefault(f"fields[{index}].target", []).append("Each field only once.")
            continue
        seen.add(target)
        label = clean_text(
            spec.get("label") or "", field=f"fields[{index}].label", errors=errors, limit=100
        )
        cleaned.append({"target": target, "label": label, "required": bool(spec.get("required"))})
    if cleaned and not seen & {"email", "phone"}:
        errors.setdefault("fields", []).append(
            "Include an email or a phone field, so a lead can be told apart and reached."
        )
    return cleaned


def _clean_origins(raw: str, errors: dict) -> str:
    lines = []
    for line in (raw or "").split():
        parts = urlsplit(line.strip())
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path not in {"", "/"}:
            errors.setdefault("allowed_origins", []).append(
                f"{line[:80]!r} is not an origin like https://www.example.com."
            )
            continue
        lines.append(f"{parts.scheme}://{parts.netloc}".lower())
    if len(lines) > 50:
        errors.setdefault("allowed_origins", []).append("At most 50 origins.")
    return "\n".join(lines)


def _apply_form_values(form: WebForm, values: dict, errors: dict) -> None:
    texts = {
        "name": (100, True),
        "description": (300, False),
        "source_detail": (150, False),
        "campaign": (100, False),
        "submit_label": (40, True),
        "thank_you_message": (500, True),
        "consent_text": (300, False),
    }
    for name, (limit, required) in texts.items():
        if name in values:
            setattr(
                form,
                name,
                clean_text(values[name], field=name, errors=errors, limit=limit, required=required),
            )
    if "fields" in values:
        form.fields = _clean_field_specs(values["fields"], errors)
    if "source" in values:
        if values["source"] not in ContactSource.values:
            errors.setdefault("source", []).append(
                f"Choose one of: {', '.join(ContactSource.values)}."
            )
        form.source = values["source"]
    if "lifecycle_stage" in values:
        if values["lifecycle_stage"] not in LEAD_STAGES:
            errors.setdefault("lifecycle_stage", []).append(
                f"Choose a lead stage: {', '.join(LEAD_STAGES)}."
            )
        form.lifecycle_stage = values["lifecycle_stage"]
    if "redirect_url" in values:
        url = clean_text(values["redirect_url"], field="redirect_url", errors=errors, limit=500)
        if url:
            try:
                URLValidator(schemes=["http", "https"])(url)
            except ValidationError:
                errors.setdefault("redirect_url", []).append("Enter an http(s) address.")
        form.redirect_url = url
    if "allowed_origins" in values:
        form.allowed_origins = _clean_origins(values["allowed_origins"] or "", errors)
    for flag in ("is_active", "consent_enabled"):
        if flag in values:
            setattr(form, flag, bool(values[flag]))
    if "max_submissions_per_minute" in values:
        rate = values["max_submissions_per_minute"]
        if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= 100_000:
            errors.setdefault("max_submissions_per_minute", []).append(
                "Give a whole number from 1 to 100000."
            )
        form.max_submissions_per_minute = rate
    if form.consent_enabled and not form.consent_text:
        errors.setdefault("consent_text", []).append("Say what the visitor agrees to.")


@transaction.atomic
def create_webform(*, actor, name: str, fields: list[dict], **options) -> WebForm:
    """A new capture form. It takes submissions at once at its public address."""
    access.require_admin(actor)
    unknown = set(options) - FORM_FIELDS
    if unknown:
        raise ValidationError({key: ["Unknown field."] for key in sorted(unknown)})
    errors: dict[str, list[str]] = {}
    form = WebForm(created_by=actor if getattr(actor, "is_authenticated", False) else None)
    _apply_form_values(form, {"name": name, "fields": fields, **options}, errors)
    if errors:
        raise ValidationError(errors)
    form.save()
    record_change(actor=actor, action=ChangeAction.CREATE, instance=form, after=snapshot(form))
    return form


@transaction.atomic
def update_webform(*, actor, form: WebForm, **changes) -> WebForm:
    access.require_admin(actor)
    unknown = set(changes) - FORM_FIELDS
    if unknown:
        raise ValidationError({key: ["Unknown field."] for key in sorted(unknown)})
    form = WebForm.objects.select_for_update().get(pk=form.pk)
    before = snapshot(form)
    errors: dict[str, list[str]] = {}
    _apply_form_values(form, changes, errors)
    if errors:
        raise ValidationError(errors)
    form.save()
    record_change(
        actor=actor, action=ChangeAction.UPDATE, instance=form, before=before, after=snapshot(form)
    )
    return form


# -- submissions -------------------------------------------------------------------------------


@dataclass
class SubmissionResult:
    spam: bool
    submission: WebFormSubmission | None = None
    contact: Contact | None = None
    is_new_contact: bool = False


def client_hash(address: str) -> str:
    if not address:
        return ""
    return hmac.new(settings.SECRET_KEY.encode(), address.encode(), hashlib.sha256).hexdigest()


def _first(data: Mapping, key: str):
    if hasattr(data, "getlist"):
        values = data.getlist(key)
        return values[0] if len(values) == 1 else (values or None)
    return data.get(key)


def _clean_submission(form: WebForm, data: Mapping) -> tuple[dict, dict, dict]:
    """(contact values, custom values, display lines) or ValidationError keyed by field."""
    errors: dict[str, list[str]] = {}
    values: dict = {}
    custom: dict = {}
    lines: dict[str, str] = {}
    definitions = (
        {d.key: d for d in definitions_for(Entity.CONTACT)} if _uses_custom_fields(form) else {}
    )
    country = str(_first(data, "country") or "").strip().upper()
    for field in form_fields(form):
        name = field["name"]
        raw = _first(data, name)
        if isinstance(raw, list) and field["input_type"] != "select":
            raw = raw[0]
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if field["required"] and field["input_type"] != "checkbox":
                errors.setdefault(name, []).append("This field is required.")
            continue
        if isinstance(raw, list):
            if len(raw) > 50 or any(len(str(item)) > 200 for item in raw):
                errors.setdefault(name, []).append("Too many or too long choices.")
                continue
        else:
            raw = str(raw).strip()
            if "\x00" in raw:
                errors.setdefault(name, []).append("Contains a null character.")
                continue
            if len(raw) > field["limit"]:
                errors.setdefault(name, []).append(
                    f"Use at most {field['limit']} characters (it has {len(raw)})."
                )
                continue
        try:
            if name == "email":
                values["email"] = normalize_email(raw)
            elif name == "phone":
                values["phone"] = normalize_phone(raw, country if len(country) == 2 else None)
            elif name == "country":
                if len(raw) != 2 or not raw.isalpha():
                    raise ValidationError("Use a two-letter country code, e.g. DE.")
                values["country"] = raw.upper()
            elif name.startswith("custom_fields."):
                key = name.split(".", 1)[1]
                cleaned = clean_value(definitions[key], raw)
                if cleaned is not None:
                    custom[key] = cleaned
            else:
                values[name] = raw
        except ValidationError as exc:
            errors.setdefault(name, []).extend(exc.messages)
            continue
        lines[field["label"]] = ", ".join(map(str, raw)) if isinstance(raw, list) else raw
    if errors:
        raise ValidationError(errors)
    return values, custom, lines


def _find_contact(email: str | None, phone: str | None) -> Contact | None:
    """The existing contact with this email, else this phone (normalized, not archived)."""
    if email:
        match = (
            ContactEmail.objects.filter(email=email, contact__is_archived=False)
            .order_by("-is_primary", "contact_id")
            .select_related("contact")
            .first()
        )
        if match:
            return match.contact
    if phone:
        match = (
            ContactPhone.objects.filter(number=phone, contact__is_archived=False)
            .order_by("-is_primary", "contact_id")
            .select_related("contact")
            .first()
        )
        if match:
            return match.contact
    return None


def _organization_named(name: str) -> Organization:
    existing = Organization.objects.filter(name__iexact=name, is_archived=False).order_by("pk")
    return existing.first() or create_organization(actor=None, name=name)


def _is_checked(value) -> bool:
    return str(value or "").strip().lower() in {"on", "true", "1", "yes"}


def _stored_submission(form: WebForm, data: Mapping, client_address, user_agent, referrer):
    """Check and clean a submission and store it, unprocessed; None for a honeypot hit.

    Raises ValidationError (keyed by field) for what the visitor must correct: that is all of
    the work the answer depends on.
    """
    if not form.is_active:
        raise ValidationError({"form": ["This form no longer accepts submissions."]})
    if str(_first(data, HONEYPOT) or "").strip():
        WebForm.objects.filter(pk=form.pk).update(spam_count=F("spam_count") + 1)
        return None
    values, custom, lines = _clean_submission(form, data)
    campaign = str(_first(data, "campaign") or "").strip()[:100] or form.campaign
    consent = form.consent_enabled and _is_checked(_first(data, "consent"))
    message = values.pop("message", "")
    return WebFormSubmission.objects.create(
        form=form,
        data={
            "fields": lines,
            "consent": consent,
            **({"message": message[:5000]} if message else {}),
            # What processing needs to create or update the contact; dropped once it has.
            "pending": {"values": values, "custom": custom},
        },
        campaign=campaign,
        client_hash=client_hash(client_address),
        user_agent=user_agent[:200],
        referrer=referrer[:500],
    )


def receive_web_form_submission(
    *,
    form: WebForm,
    data: Mapping,
    client_address: str = "",
    user_agent: str = "",
    referrer: str = "",
) -> SubmissionResult:
    """Accept one public submission: store it and queue its processing.

    This is what the visitor waits for. The submission is durable once this returns (one
    INSERT); matching it to a contact, the timeline, consent, scoring and assignment follow in
    the `process_web_form_submission` task, queued after commit. Should that queueing be lost
    (the process dies in between), `requeue_unprocessed_submissions` picks the row up again.
    A filled honeypot is answered as a success but stores nothing.
    """
    submission = _stored_submission(form, data, client_address, user_agent, referrer)
    if submission is None:
        return SubmissionResult(spam=True)
    submission_id = submission.pk
    from rapport.sales import tasks

    transaction.on_commit(
        lambda: tasks.process_web_form_submission.enqueue(submission_id=submission_id)
    )
    return SubmissionResult(spam=False, submission=submission)


@transaction.atomic
def submit_web_form(
    *,
    form: WebForm,
    data: Mapping,
    client_address: str = "",
    user_agent: str = "",
    referrer: str = "",
) -> SubmissionResult:
    """Accept a submission and process it at once, for callers that need its contact now
    (demo data). The public endpoint uses `receive_web_form_submission`."""
    submission = _stored_submission(form, data, client_address, user_agent, referrer)
    if submission is None:
        return SubmissionResult(spam=True)
    return process_submission(submission_id=submission.pk)


@transaction.atomic
def process_submission(*, submission_id: int) -> SubmissionResult | None:
    """Turn a stored submission into a lead on its timeline; None when there is nothing to do.

    A submission whose email (or else phone) matches an existing contact updates that contact
    — blanks never overwrite, names are only filled in, new emails and phones are added —
    instead of making a duplicate. Every submission leaves a form_submission Interaction.
    Safe to run twice: the row is locked and a processed submission is left alone. Sets off
    WebFormSubmitted (and ContactCreated for a new lead, which assigns and scores it).
    """
    submission = (
        WebFormSubmission.objects.select_for_update(of=("self",))
        .select_related("form")
        .filter(pk=submission_id, processed_at__isnull=True)
        .first()
    )
    if submission is None:
        return None
    form = submission.form
    data = dict(submission.data)
    pending = data.pop("pending")  # written by `_stored_submission` with every unprocessed row
    values, custom = pending["values"], pending["custom"]
    lines = data["fields"]
    campaign = submission.campaign
    consent = bool(data.get("consent"))
    detail = form.source_detail or form.name
    source_detail = f"{detail} · {campaign}"[:200] if campaign else detail[:200]
    email, phone = values.pop("email", None), values.pop("phone", None)
    company = values.pop("company", "")
    products = values.pop("products_of_interest", "")
    contact = _find_contact(email, phone)
    is_new = contact is None
    if is_new:
        contact = create_contact(
            actor=None,
            emails=[email] if email else None,
            phones=[phone] if phone else None,
            organization=_organization_named(company) if company else None,
            lifecycle_stage=form.lifecycle_stage,
            source=form.source,
            source_detail=source_detail,
            custom_fields=custom or None,
            **values,
        )
    else:
        _update_from_submission(contact, values, custom, email, phone, company)
        if contact.lifecycle_stage == LifecycleStage.SUBSCRIBER and form.lifecycle_stage not in (
            LifecycleStage.SUBSCRIBER,
        ):
            set_lifecycle_stage(
                actor=None,
                contact=contact,
                stage=form.lifecycle_stage,
                reason=f"submitted form {form.name}"[:200],
            )
    if products:
        _add_products(
            contact,
            [p.strip()[:100] for p in products.split(",") if p.strip()][:20],
            source=form.name,
        )
    if consent:
        set_consent(
            actor=None,
            contact=contact,
            channel=ConsentChannel.EMAIL if email else ConsentChannel.PHONE,
            status=ConsentStatus.GRANTED,
            lawful_basis=LawfulBasis.CONSENT,
            source=f"Web form: {form.name}"[:200],
        )
    body = "\n".join(f"{label}: {value}" for label, value in lines.items())
    if consent:
        body += f"\nConsent: {form.consent_text}"
    if campaign:
        body += f"\nCampaign: {campaign}"
    interaction = log_interaction(
        actor=None,
        kind=InteractionKind.FORM,
        channel=Channel.WEB,
        direction=Direction.INBOUND,
        contact=contact,
        subject=f"Submitted “{form.name}”"[:200],
        body=body[:50_000],
        occurred_at=submission.created_at,
    )
    submission.contact = contact
    submission.interaction = interaction
    submission.is_new_contact = is_new
    submission.data = data
    submission.processed_at = timezone.now()
    submission.save(
        update_fields=["contact", "interaction", "is_new_contact", "data", "processed_at"]
    )
    # Counted here rather than in the request: every visitor of a form would otherwise queue
    # behind the lock on this one row. Tasks may run out of order; the latest time stays.
    WebForm.objects.filter(pk=form.pk).update(
        submission_count=F("submission_count") + 1,
        last_submission_at=Greatest(
            Coalesce("last_submission_at", Value(submission.created_at)),
            Value(submission.created_at),
        ),
    )
    emit(
        events.WebFormSubmitted(
            form_id=form.pk,
            submission_id=submission.pk,
            contact_id=contact.pk,
            is_new_contact=is_new,
        )
    )
    return SubmissionResult(
        spam=False, submission=submission, contact=contact, is_new_contact=is_new
    )


def _update_from_submission(contact, values, custom, email, phone, company) -> None:
    changes: dict = {}
    for name, value in values.items():
        if name in {"first_name", "last_name"}:
            if not getattr(contact, name):
                changes[name] = value
        elif value and value != getattr(contact, name):
            changes[name] = value
    emails = list(contact.emails.values("email", "label", "is_primary"))
    if email and email not in {e["email"] for e in emails}:
        changes["emails"] = [*emails, {"email": email, "label": "work", "is_primary": not emails}]
    phones = list(contact.phones.values("number", "label", "is_primary"))
    if phone and phone not in {p["number"] for p in phones}:
        changes["phones"] = [*phones, {"number": phone, "label": "work", "is_primary": not phones}]
    if custom:
        changes["custom_fields"] = custom
    if changes:
        update_contact(actor=None, contact=contact, **changes)
    if company and not contact.memberships.filter(organization__name__iexact=company).exists():
        add_membership(actor=None, contact=contact, organization=_organization_named(company))


# -- processing in the background --------------------------------------------------------------

# Unprocessed this long, a submission's task is taken as lost (not just queued behind others);
# queuing it again is harmless, as processing is idempotent.
REQUEUE_AFTER = dt.timedelta(minutes=15)


def requeue_unprocessed_submissions(*, now: dt.datetime | None = None) -> int:
    """Queue the processing of submissions whose task never ran; how many were queued.

    Also drops the rate-limit counters of past minutes, which no request reads again.
    """
    now = now or timezone.now()
    WebFormRateCounter.objects.filter(minute__lt=current_minute(now) - 1).delete()
    stale = WebFormSubmission.objects.filter(
        processed_at__isnull=True, created_at__lt=now - REQUEUE_AFTER
    ).values_list("pk", flat=True)
    ids = list(stale[:10_000])
    from rapport.sales import tasks

    for submission_id in ids:
        tasks.process_web_form_submission.enqueue(submission_id=submission_id)
    return len(ids)


# -- rate limits -------------------------------------------------------------------------------


def current_minute(now: dt.datetime | None = None) -> int:
    return int((now or timezone.now()).timestamp() // 60)


def count_submission_attempt(*, form: WebForm, client_address: str) -> tuple[int, int]:
    """Count one attempt against its client address and its form; (address's, form's) count
    so far in this minute, this one included.

    One upsert for both counters, outside any transaction of the caller's making, so a row
    lock lasts one statement: a form's counter is one row every visitor of it updates.
    A counter from an earlier minute starts again at 1.
    """
    quote = connection.ops.quote_name
    table, key, minute_, count = (
        quote(name) for name in (WebFormRateCounter._meta.db_table, "key", "minute", "count")
    )
    address_key = f"ip:{client_hash(client_address)}"
    form_key = f"form:{form.pk}"
    minute = current_minute()
    # Only the model's own (quoted) names go into the text; the values are parameters. The
    # address's row comes first in every statement, so two requests lock rows in one order.
    sql = (
        f"INSERT INTO {table} AS counter ({key}, {minute_}, {count}) "  # noqa: S608
        "VALUES (%s, %s, 1), (%s, %s, 1) "
        f"ON CONFLICT ({key}) DO UPDATE SET {count} = CASE "
        f"WHEN counter.{minute_} = excluded.{minute_} THEN counter.{count} + 1 ELSE 1 END, "
        f"{minute_} = excluded.{minute_} RETURNING {key}, {count}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [address_key, minute, form_key, minute])
        counts = dict(cursor.fetchall())
    return counts[address_key], counts[form_key]
