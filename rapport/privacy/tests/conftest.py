"""A person with data in every place Rapport keeps it, built mostly through the services so it
lands where real data lands (audit records, timeline, search column)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.utils import timezone

from rapport.contacts.models import Contact, LifecycleChange, Membership
from rapport.contacts.services import set_consent, update_contact
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core.models import IdempotencyRecord
from rapport.core.tests import api_matrix
from rapport.data_exchange.models import (
    ContactDuplicate,
    IdentityAlias,
    ImportJob,
    ImportRow,
    MergeRecord,
)
from rapport.interactions.services import log_interaction
from rapport.sales.models import (
    LeadAssignment,
    LeadScore,
    Notification,
    ProductInterest,
    WebForm,
    WebFormSubmission,
)
from rapport.sales.services.deals import create_deal
from rapport.sales.services.pipelines import create_pipeline
from rapport.sales.services.work import create_task

client_as = api_matrix.client_as
people = api_matrix.people
read_only_user = api_matrix.read_only_user

EMAIL = "zelda.quintrell@marker.example"
OLD_EMAIL = "zq1987@oldmail.example"
PHONE = "+4915123987654"
EXTERNAL_ID = "SHOP-ZQ-7781"
# Strings that must not be found anywhere in the database after the erasure.
MARKERS = [EMAIL, OLD_EMAIL, "Quintrell", "Zelda", "23987654", EXTERNAL_ID, "Lindenweg"]


@dataclass
class Person:
    contact: Contact
    bystander: Contact
    organization: object
    deal: object
    order: object
    interaction: object
    org_interaction: object
    task: object


@pytest.fixture
def person(owner, admin_user):
    from rapport.commerce.tests.factories import make_order

    organization = make_organization(actor=admin_user, owner=owner, name="Hollow Works")
    contact = make_contact(
        actor=owner,
        owner=owner,
        first_name="Zelda",
        last_name="Quintrell",
        emails=[{"email": EMAIL}],
        phones=[{"number": PHONE}],
        organization=organization,
        organization_role="Head of Quintrell accounts",
        tags=["VIP", "Quintrell family"],
        external_ids=[{"system": "shop", "value": EXTERNAL_ID}],
        street="Lindenweg 5",
        city="Bremen",
        about="Prefers calls in the morning; Zelda's daughter studies abroad.",
    )
    Contact.objects.filter(pk=contact.pk).update(custom_fields={"nickname": "Zee Quintrell"})
    update_contact(actor=owner, contact=contact, job_title="Quintrell family office lead")
    set_consent(
        actor=owner,
        contact=contact,
        channel="email",
        status="granted",
        lawful_basis="consent",
        source=f"Newsletter form ({EMAIL})",
    )
    bystander = make_contact(
        actor=owner,
        owner=owner,
        first_name="Bert",
        last_name="Bystander",
        emails=[{"email": "bert@b.example"}],
    )

    interaction = log_interaction(
        actor=owner,
        kind="call",
        contact=contact,
        subject="Call with Zelda",
        body=f"Zelda Quintrell asked us to call {PHONE}; health issues mentioned.",
        external_id=f"call-{EMAIL}",
    )
    org_interaction = log_interaction(
        actor=owner,
        kind="note",
        organization=organization,
        subject="Team changes",
        body=f"Zelda Quintrell ({EMAIL}) leaves in spring.",
    )
    pipeline = create_pipeline(actor=admin_user, name="Privacy pipeline", currency="EUR")
    deal = create_deal(
        actor=owner,
        owner=owner,
        name="Renewal for Zelda Quintrell",
        pipeline=pipeline,
        amount="1000.00",
        expected_close_date=timezone.localdate() + dt.timedelta(days=30),
        contact=contact,
        description=f"Send the contract to {EMAIL}.",
    )
    from rapport.sales.models import Quote
    from rapport.sales.quotes.services import create_quote

    quote = create_quote(actor=owner, deal=deal, notes="Zelda Quintrell asked for 60 days.")
    # As a quote sent to her reads.
    Quote.objects.filter(pk=quote.pk).update(sent_to=EMAIL)
    order = make_order(
        contact=contact, actor=admin_user, total="250.00", note="Gift wrap for Zelda"
    )
    task = create_task(
        actor=owner,
        title="Call Zelda Quintrell back",
        description=f"Her number is {PHONE}.",
        due_at=timezone.now() + dt.timedelta(days=2),
        contact=contact,
    )

    form = WebForm.objects.create(name="Newsletter", fields=[{"target": "email", "label": "Email"}])
    WebFormSubmission.objects.create(
        form=form,
        contact=contact,
        data={"fields": [{"label": "Email", "value": EMAIL}], "consent": True},
        user_agent="Mozilla/5.0",
        referrer="https://example.com/?who=zelda",
        client_hash="abc123",
    )
    # A submission still waiting for its task carries the raw values only.
    WebFormSubmission.objects.create(
        form=form,
        data={"fields": [], "pending": {"values": {"email": EMAIL}, "custom": {}}},
    )
    LeadScore.objects.create(
        contact=contact,
        score=80,
        basis="rules",
        reasons={"rules": [f"Email domain of {EMAIL}"]},
        computed_at=timezone.now(),
    )
    LeadAssignment.objects.create(
        contact=contact,
        owner=owner,
        method="fallback",
        reason="Zelda Quintrell matched no rule",
        assigned_at=timezone.now(),
    )
    ProductInterest.objects.create(contact=contact, product="Hiking boots", source="Quintrell form")
    LifecycleChange.objects.filter(contact=contact).update(reason="Zelda called in")
    Notification.objects.create(
        recipient=owner, kind="lead_assigned", title="New lead: Zelda Quintrell", body=EMAIL
    )
    IdempotencyRecord.objects.create(
        principal="p",
        key="k",
        method="POST",
        path="/api/v1/contacts/",
        request_fingerprint="f",
        status_code=201,
        response_body={"primary_email": EMAIL},
    )

    merge = MergeRecord.objects.create(
        entity="contact",
        survivor_contact=contact,
        survivor_id_at_merge=contact.pk,
        loser_id=contact.pk + 1000,
        loser_snapshot={"first_name": "Zelda", "emails": [OLD_EMAIL], "city": "Lindenweg"},
        chosen={"first_name": "Zelda"},
    )
    IdentityAlias.objects.create(kind="email", value=OLD_EMAIL, contact=contact, merge=merge)
    low, high = sorted([contact, bystander], key=lambda c: c.pk)
    ContactDuplicate.objects.create(contact_a=low, contact_b=high, score=0.8, reasons=["name"])

    job = ImportJob.objects.create(
        file="imports/people.csv", file_name="people.csv", file_sha256="0" * 64
    )
    ImportRow.objects.create(
        job=job,
        row_number=2,
        action="updated",
        entity="contact",
        object_id=contact.pk,
        before={"city": "Hamburg"},
        after={"city": "Bremen", "street": "Lindenweg 5"},
        fingerprint="f" * 32,
    )
    ImportRow.objects.create(
        job=job,
        row_number=3,
        action="error",
        entity="contact",
        after={"email": OLD_EMAIL, "first_name": "Zelda"},
        errors=[{"field": "phone", "message": "Not a number: 'Quintrell'"}],
    )
    assert Membership.objects.filter(contact=contact).exists()
    return Person(
        contact=contact,
        bystander=bystander,
        organization=organization,
        deal=deal,
        order=order,
        interaction=interaction,
        org_interaction=org_interaction,
        task=task,
    )
