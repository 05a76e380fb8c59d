"""Email templates: the write path, and the merge context built from real records.

The context handed to the sandboxed renderer is plain dicts of strings made here from the
records the user may see: no model object reaches a template, so a template can read only what
this module offers.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.core import display
from rapport.mail.choices import MessagePurpose
from rapport.mail.models import EmailTemplate
from rapport.mail.rendering import RenderedEmail, check_template, render_email

AUDITED = ["name", "subject", "body_html", "purpose", "owner", "is_archived"]
BODY_LIMIT = 200_000


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_text(item) for item in value)
    return str(value)


def custom_keys() -> dict[str, set[str]]:
    """The custom-field keys templates may name, per record kind."""
    from rapport.customfields.models import CustomFieldDefinition

    keys: dict[str, set[str]] = {"contact": set(), "organization": set(), "deal": set()}
    for entity, key in CustomFieldDefinition.objects.filter(is_active=True).values_list(
        "entity", "key"
    ):
        if entity in keys:
            keys[entity].add(key)
    return keys


def _person(user) -> dict:
    if user is None:
        return {}
    return {
        "first_name": user.first_name,
        "full_name": user.get_full_name() or user.username,
        "email": user.email,
        "phone": "",
    }


def merge_context(*, contact=None, organization=None, deal=None, mailbox=None, sender=None) -> dict:
    """The merge values for one message, as strings: contact, organization, deal, the
    record's owner and the sender (the mailbox's identity)."""
    if organization is None and contact is not None:
        membership = contact.memberships.filter(is_primary=True).select_related("organization")
        first = membership.first()
        organization = first.organization if first else None
    if organization is None and deal is not None:
        organization = deal.organization
    context: dict[str, dict] = {}
    if contact is not None:
        context["contact"] = {
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "full_name": f"{contact.first_name} {contact.last_name}".strip(),
            "email": contact.primary_email,
            "phone": contact.primary_phone,
            "job_title": contact.job_title,
            "city": contact.city,
            "country": contact.country,
            "custom": {key: _text(value) for key, value in (contact.custom_fields or {}).items()},
        }
    if organization is not None:
        context["organization"] = {
            "name": organization.name,
            "website": organization.website,
            "industry": organization.industry,
            "city": organization.city,
            "custom": {
                key: _text(value) for key, value in (organization.custom_fields or {}).items()
            },
        }
    if deal is not None:
        context["deal"] = {
            "name": deal.name,
            # The bare number: templates write the currency themselves ({{ deal.currency }}).
            "amount": display.number_text(deal.amount, 2),
            "currency": deal.currency,
            "stage": str(deal.stage),
            "close_date": display.day_text(deal.expected_close_date),
            "custom": {key: _text(value) for key, value in (deal.custom_fields or {}).items()},
        }
    owner = None
    for record in (deal, contact, organization):
        if record is not None and getattr(record, "owner", None) is not None:
            owner = record.owner
            break
    context["owner"] = _person(owner)
    if mailbox is not None:
        context["sender"] = {
            "name": mailbox.from_name or _person(sender).get("full_name", ""),
            "email": mailbox.email_address,
            "signature": mailbox.signature,
        }
    elif sender is not None:
        person = _person(sender)
        context["sender"] = {"name": person["full_name"], "email": person["email"]}
    return context


def render_for(
    *,
    subject: str,
    body_html: str,
    contact=None,
    organization=None,
    deal=None,
    mailbox=None,
    sender=None,
) -> RenderedEmail:
    """Render a subject and body for real records (the preview and the send use this)."""
    context = merge_context(
        contact=contact, organization=organization, deal=deal, mailbox=mailbox, sender=sender
    )
    return render_email(subject=subject, body_html=body_html, context=context)


def _validate(template: EmailTemplate) -> None:
    errors: dict[str, list[str]] = {}
    if not template.name.strip():
        errors["name"] = ["Give the template a name."]
    elif len(template.name) > 150:
        errors["name"] = ["Use at most 150 characters."]
    if not template.subject.strip():
        errors["subject"] = ["Write a subject."]
    elif len(template.subject) > 500:
        errors["subject"] = ["Use at most 500 characters."]
    if not template.body_html.strip():
        errors["body_html"] = ["Write the message."]
    elif len(template.body_html) > BODY_LIMIT:
        errors["body_html"] = [f"Use at most {display.number_text(BODY_LIMIT)} characters."]
    if template.purpose not in MessagePurpose.values:
        errors["purpose"] = [f"Choose one of: {', '.join(MessagePurpose.labels)}."]
    if not errors:
        for field, problems in check_template(
            subject=template.subject, body_html=template.body_html, custom_keys=custom_keys()
        ).items():
            errors.setdefault(field, []).extend(problems)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def create_template(
    *,
    actor,
    name: str,
    subject: str,
    body_html: str,
    purpose: str = MessagePurpose.PERSONAL,
    shared: bool = False,
) -> EmailTemplate:
    """Save a template: the user's own, or shared with everyone (administrators only).
    Refused with the line and the reason when it does not compile or names a merge field that
    does not exist."""
    access.require(actor, Action.CREATE, EmailTemplate)
    if shared and actor is not None:
        access.require_admin(actor)
    template = EmailTemplate(
        name=(name or "").strip(),
        subject=subject or "",
        body_html=body_html or "",
        purpose=purpose,
        owner=None if shared or actor is None else actor,
        created_by=actor if access.is_signed_in(actor) else None,
    )
    _validate(template)
    template.save()
    record_change(
        actor=actor,
        action=ChangeAction.CREATE,
        instance=template,
        after=snapshot(template, AUDITED),
    )
    return template


@transaction.atomic
def update_template(*, actor, template: EmailTemplate, **changes) -> EmailTemplate:
    """Change a template; messages already sent keep what they said."""
    access.require(actor, Action.CHANGE, template)
    allowed = {"name", "subject", "body_html", "purpose", "is_archived"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError({name: ["This field cannot be set."] for name in sorted(unknown)})
    before = snapshot(template, AUDITED)
    for name, value in changes.items():
        setattr(template, name, value)
    _validate(template)
    template.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=template,
        before=before,
        after=snapshot(template, AUDITED),
    )
    return template


@transaction.atomic
def delete_template(*, actor, template: EmailTemplate) -> None:
    access.require(actor, Action.DELETE, template)
    record_change(
        actor=actor,
        action=ChangeAction.DELETE,
        instance=template,
        before=snapshot(template, AUDITED),
    )
    template.delete()
