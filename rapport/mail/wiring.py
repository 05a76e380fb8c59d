"""What the mail app adds to the rest of Rapport, connected once from `MailConfig.ready()`:
the menu entry, the merge relations, the panels and the sync's schedule."""

from __future__ import annotations

from importlib.util import find_spec


def move_contact_mail(loser, survivor, actor) -> None:
    """A merged contact's mail follows it: the survivor's timeline keeps the whole conversation."""
    from rapport.mail.models import EmailMessage, Participant

    EmailMessage.objects.filter(contact=loser).update(contact=survivor)
    Participant.objects.filter(contact=loser).update(contact=survivor)


def move_organization_mail(loser, survivor, actor) -> None:
    from rapport.mail.models import EmailMessage

    EmailMessage.objects.filter(organization=loser).update(organization=survivor)


def connect() -> None:
    from rapport.accounts import access
    from rapport.core.registry import (
        MergeRelation,
        NavItem,
        register_merge_relation,
        register_nav,
    )

    register_merge_relation(
        MergeRelation(key="mail_contact", entity="contact", move=move_contact_mail)
    )
    register_merge_relation(
        MergeRelation(key="mail_organization", entity="organization", move=move_organization_mail)
    )
    register_nav(
        NavItem(
            key="mail",
            label="Mail",
            url_name="mail:inbox",
            order=45,
            permission=access.is_signed_in,
        )
    )
    # The pieces written by separate modules register themselves when they are there.
    for module in ("rapport.mail.panels", "rapport.mail.tasks", "rapport.mail.quotes"):
        if find_spec(module) is not None:
            __import__(module, fromlist=["connect"]).connect()
