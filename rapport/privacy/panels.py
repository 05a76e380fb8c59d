"""The Privacy panel on a contact's 360° page: the export for anyone who can open the
contact, erasure for administrators, and the mark of an erased contact."""

from __future__ import annotations

from django.urls import reverse

from rapport.accounts.access import can_administer
from rapport.privacy.models import Erasure


def privacy_panel(request, contact):
    """The page already checked that the user may view the contact."""
    erasure = Erasure.objects.filter(contact_id=contact.pk).select_related("erased_by").first()
    return {
        "erasure": erasure,
        "export_url": reverse("privacy:export", args=[contact.pk]),
        "erase_url": reverse("privacy:erase", args=[contact.pk]),
        "can_erase": erasure is None and can_administer(request.user),
    }
