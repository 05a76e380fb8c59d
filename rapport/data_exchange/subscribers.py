"""Reactions to events: every new contact or organization is checked at once, and a finished
import sets off a full duplicate detection in the worker."""

import logging

from rapport.contacts.choices import ContactSource
from rapport.core import context
from rapport.data_exchange import matching

logger = logging.getLogger(__name__)


def check_new_contact(event) -> None:
    """Record the suspected duplicates of a contact just created in the UI or the API.

    Imports are left out here: an import compares its new contacts in one pass when it ends,
    and so does bulk work that says it will (`checks_deferred`, the demo builder).
    """
    if event.source == ContactSource.IMPORT or context.current().checks_deferred:
        return
    matching.record_suspects_for_contacts([event.contact_id])


def check_new_organization(event) -> None:
    if context.current().checks_deferred:
        return
    matching.record_suspects_for_organizations([event.organization_id])


def detect_after_import(event) -> None:
    """Queue a full detection once an import has written records (contacts and organizations
    alike: the importer compares its new records as it ends, but only a full run tells the
    Duplicates page and the KPIs that everything was compared)."""
    from rapport.data_exchange.choices import DetectionTrigger, Entity
    from rapport.data_exchange.tasks import queue_detection

    if event.entity not in Entity.values or not (event.created or event.updated):
        return
    queue_detection(trigger=DetectionTrigger.IMPORT)
