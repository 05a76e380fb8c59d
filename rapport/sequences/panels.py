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
    visible = set(Sequence.objects.visible_to(request.user).values_list("pk", flat=True))
    sequences = []
    if access.can(request.user, Action.CHANGE, contact):
        # Only sequences the user may enroll with: enrolling sends from the sequence's mailbox.
        usable = set(Mailbox.objects.usable_by(request.user).values_list("pk", flat=True))
        already = set(
            Enrollment.objects.filter(contact=contact).open().values_list("sequence_id", flat=True)
        )
        sequences = [
            sequence
            for sequence in Sequence.objects.filter(pk__in=visible, is_active=True).order_by("name")
            if sequence.pk not in already and sequence.mailbox_id in usable
        ]
    return {
        "visible_sequences": visible,
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
