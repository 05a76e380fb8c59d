"""Reactions to other apps' events: every new contact or organization is checked at once."""

import logging

from rapport.contacts.choices import ContactSource
from rapport.data_exchange import matching

logger = logging.getLogger(__name__)


def check_new_contact(event) -> None:
    """Record the suspected duplicates of a contact just created in the UI or the API.

    Imports are left out here: an import compares its new contacts in one pass when it ends.
    """
    if event.source == ContactSource.IMPORT:
        return
    matching.record_suspects_for_contacts([event.contact_id])


def check_new_organization(event) -> None:
    matching.record_suspects_for_organizations([event.organization_id])
