"""Finding the contacts and organizations an imported file names, for the importers of other
apps' records (deals, tasks, activities): a batch's cells looked up in a few queries, then
each cell resolved with the problem a person can act on."""

from __future__ import annotations

import re

from django.db.models import Value
from django.db.models.functions import Concat, Lower

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.contacts.models import Contact, ContactEmail, Organization
from rapport.core.importing import visible

EMAIL = re.compile(r"[^\s<>()\[\],;\"']+@[^\s<>()\[\],;\"']+\.[^\s<>()\[\],;\"']+")


def contacts_by_email_or_name(cells, actor) -> dict[str, list]:
    """Email or folded full name → the contacts `actor` may see; two queries."""
    emails, names = set(), set()
    for cell in cells:
        cell = cell.strip()
        if not cell:
            continue
        match = EMAIL.search(cell)
        if match:
            emails.add(match.group(0).casefold())
        else:
            names.add(" ".join(cell.split()).casefold())
    found: dict[str, list] = {}
    contacts = visible(Contact.objects.all(), actor)
    if emails:
        for address in (
            ContactEmail.objects.filter(email__in=emails, contact__in=contacts)
            .select_related("contact")
            .order_by("contact_id")
        ):
            found.setdefault(address.email, []).append(address.contact)
    if names:
        for contact in (
            contacts.annotate(full=Lower(Concat("first_name", Value(" "), "last_name")))
            .filter(full__in=names)
            .order_by("pk")
        ):
            found.setdefault(contact.full, []).append(contact)
    return found


def organizations_by_name(cells, actor) -> dict[str, list]:
    """Folded-case name → the organizations of that name `actor` may see; one query."""
    names = {cell.strip().casefold() for cell in cells} - {""}
    if not names:
        return {}
    found: dict[str, list] = {}
    for organization in (
        visible(Organization.objects.all(), actor)
        .annotate(folded_name=Lower("name"))
        .filter(folded_name__in=names)
        .order_by("pk")
    ):
        found.setdefault(organization.folded_name, []).append(organization)
    return found


def changeable(actor, candidates: list) -> list:
    """The records among `candidates` `actor` may change."""
    return [record for record in candidates if access.can(actor, Action.CHANGE, record)]


def contact_named(raw: str, found: dict, fail, *, advice: str):
    """The contact a cell names by email or full name among `found`; None when empty, unknown
    or ambiguous (a problem on "contact" then, ending with `advice`)."""
    text = " ".join(raw.split())
    if not text:
        return None
    match = EMAIL.search(text)
    candidates = found.get(match.group(0).casefold() if match else text.casefold())
    if not candidates:
        fail(
            "contact",
            f"No contact {'with the email' if match else 'named'} {text[:80]!r} among those "
            f"you can see; {advice}.",
        )
        return None
    if len(candidates) > 1 and not match:
        fail("contact", f"More than one contact is named {text[:80]!r}; give an email.")
        return None
    return candidates[0]


def organizations_named(raw: str, found: dict, fail, *, advice: str) -> list:
    """The organizations a cell names among `found`; none when empty or unknown (a problem on
    "organization" then, ending with `advice`)."""
    text = " ".join(raw.split())
    if not text:
        return []
    candidates = found.get(text.casefold())
    if not candidates:
        fail(
            "organization",
            f"No organization named {text[:80]!r} among those you can see; {advice}.",
        )
        return []
    return candidates
