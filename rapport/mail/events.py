"""What happens to email, for whoever reacts (workflows, sequences, webhooks, the KPIs).

Ids are EmailMessage primary keys; `contact_id` is the contact the message is filed under
(None when nobody matched)."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class EmailOpened:
    """A recipient's mail client loaded a sent message's pixel."""

    message_id: int
    first_open: bool


@dataclasses.dataclass(frozen=True)
class EmailLinkClicked:
    """A recipient followed a tracked link of a sent message."""

    message_id: int
    url: str
    first_click: bool


@dataclasses.dataclass(frozen=True)
class EmailReceived:
    """A message arrived in a mailbox and was filed (a reply or not)."""

    message_id: int
    mailbox_id: int
    contact_id: int | None


@dataclasses.dataclass(frozen=True)
class EmailReplied:
    """A received message answers one Rapport sent (`replied_to_id`): a sequence stops, a
    workflow's "email replied" trigger fires."""

    message_id: int
    replied_to_id: int
    contact_id: int | None
