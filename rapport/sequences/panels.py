"""The Sequences panel on the contact's 360° page: the sequences the contact is in, how each
stands, and a form to enroll them for those who may change the contact."""

from __future__ import annotations

from django.urls import reverse

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.core.registry import Panel, register_panel
from rapport.mail.models import Mailbox
from rapport.sequences.models import Enrollment, Sequence

SHOWN = 10


def contact_sequences_panel(request, contact):
    enrollments = list(
        Enrollment.objects.visible_to(request.user)
        .filter(contact=contact)
        .select_related("sequence")
        .order_by("-created_at")[:SHOWN]
    )
    sequences = []
    if access.can(request.user, Action.CHANGE, contact) and (
        Mailbox.objects.usable_by(request.user).exists()
    ):
        already = set(
            Enrollment.objects.filter(contact=contact).open().values_list("sequence_id", flat=True)
        )
        sequences = [
            sequence
            for sequence in Sequence.objects.visible_to(request.user)
            .filter(is_active=True)
            .order_by("name")
            if sequence.pk not in already
        ]
    return {
        "enrollments": enrollments,
        "sequences": sequences,
        "contact": contact,
        "enroll_url": reverse("sequences:enroll_contact", args=[contact.pk]),
        "header_link": {"url": reverse("sequences:list"), "label": "Sequences"},
    }


def connect() -> None:
    register_panel(
        "contact",
        Panel(
            key="sequences",
            title="Sequences",
            template="sequences/panels/contact.html",
            context=contact_sequences_panel,
            order=46,
            column="side",
        ),
    )
