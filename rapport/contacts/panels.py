"""The contacts app's own blocks on the 360° pages and on the home dashboard.

They go through the same registry as every other app's panels, so the 360° pages are nothing
but an ordered set of panels (see `core.registry`). `register()` is idempotent.
"""

from __future__ import annotations

from django.db.models import Count, Prefetch, prefetch_related_objects
from django.urls import reverse

from rapport.accounts.access import can_write
from rapport.contacts import inline
from rapport.contacts.choices import ConsentChannel, ConsentStatus, LifecycleStage
from rapport.contacts.forms import LifecycleForm, MembershipForm, RelationshipForm
from rapport.contacts.models import Contact, Membership, OrganizationRelationship
from rapport.core.registry import Panel, register_panel

MEMBERS_SHOWN = 25


# -- contact panels -------------------------------------------------------------------------
def contact_details(request, contact):
    # Each field with its inline Edit button for those who may change the contact.
    return {"fields": inline.detail_fields(request, contact)}


def contact_custom_fields(request, contact):
    fields = inline.custom_fields(request, contact)
    return {"fields": fields} if fields else None


def contact_lifecycle(request, contact):
    return {
        "history": list(contact.lifecycle_changes.select_related("actor")[:20]),
        "form": LifecycleForm(initial={"stage": contact.lifecycle_stage}),
        "stages": LifecycleStage,
    }


def memberships_with_organizations() -> Prefetch:
    return Prefetch("memberships", queryset=Membership.objects.select_related("organization"))


def contact_organizations(request, contact):
    # A no-op on the 360° page, which prefetched them; a panel re-rendered alone reads them here.
    prefetch_related_objects([contact], memberships_with_organizations())
    return {
        "memberships": list(contact.memberships.all()),
        "form": MembershipForm(user=request.user, auto_id="id_membership_%s"),
    }


def contact_consent(request, contact):
    stored = {consent.channel: consent for consent in contact.consents.all()}
    rows = []
    for channel, label in ConsentChannel.choices:
        consent = stored.get(channel)
        rows.append(
            {
                "label": label,
                "status": consent.status if consent else ConsentStatus.UNKNOWN,
                "status_label": consent.get_status_display()
                if consent
                else ConsentStatus.UNKNOWN.label,
                "basis": consent.get_lawful_basis_display() if consent else "",
                "recorded_at": consent.recorded_at if consent else None,
            }
        )
    return {"rows": rows}


def contact_external_ids(request, contact):
    ids = list(contact.external_ids.all())
    return {"ids": ids} if ids else None


# -- organization panels --------------------------------------------------------------------
def organization_details(request, organization):
    return {"fields": inline.detail_fields(request, organization)}


def organization_custom_fields(request, organization):
    fields = inline.custom_fields(request, organization)
    return {"fields": fields} if fields else None


def organization_members(request, organization):
    visible = Contact.objects.visible_to(request.user)
    memberships = (
        Membership.objects.filter(organization=organization, contact__in=visible)
        .select_related("contact")
        .order_by("-is_primary", "contact__last_name", "contact__first_name", "pk")
    )
    shown = list(memberships[: MEMBERS_SHOWN + 1])
    return {
        "memberships": shown[:MEMBERS_SHOWN],
        "has_more": len(shown) > MEMBERS_SHOWN,
        "list_url": f"{reverse('contacts:contact_list')}?organization={organization.pk}",
    }


def organization_relationships(request, organization):
    outgoing = OrganizationRelationship.objects.filter(
        from_organization=organization
    ).select_related("to_organization")
    incoming = OrganizationRelationship.objects.filter(to_organization=organization).select_related(
        "from_organization"
    )
    return {
        "outgoing": list(outgoing),
        "incoming": list(incoming),
        "form": RelationshipForm(
            user=request.user, organization=organization, auto_id="id_relationship_%s"
        ),
    }


# -- home dashboard -------------------------------------------------------------------------
def home_stage_counts(request, _obj):
    counts = dict(
        Contact.objects.visible_to(request.user)
        .active()
        .order_by()
        .values_list("lifecycle_stage")
        .annotate(n=Count("id"))
        .values_list("lifecycle_stage", "n")
    )
    total = sum(counts.values())
    list_url = reverse("contacts:contact_list")
    rows = [
        {
            "stage": value,
            "label": label,
            "count": counts.get(value, 0),
            "url": f"{list_url}?lifecycle_stage={value}",
        }
        for value, label in LifecycleStage.choices
    ]
    return {"rows": rows, "total": total, "list_url": list_url}


def home_recent_contacts(request, _obj):
    contacts = list(
        Contact.objects.visible_to(request.user)
        .active()
        .select_related("owner")
        .order_by("-created_at", "-id")[:8]
    )
    return {
        "contacts": contacts,
        "can_write": can_write(request.user),
        "header_link": {
            "url": reverse("contacts:contact_list") + "?sort=-created_at",
            "label": "All",
        },
    }


def register() -> None:
    register_panel(
        "contact",
        Panel(
            "details",
            "Contact details",
            "contacts/panels/contact_details.html",
            contact_details,
            order=10,
            column="side",
        ),
    )
    register_panel(
        "contact",
        Panel(
            "lifecycle",
            "Lifecycle stage",
            "contacts/panels/contact_lifecycle.html",
            contact_lifecycle,
            order=20,
            column="side",
        ),
    )
    register_panel(
        "contact",
        Panel(
            "custom_fields",
            "Custom fields",
            "contacts/panels/custom_fields.html",
            contact_custom_fields,
            order=30,
            column="side",
        ),
    )
    register_panel(
        "contact",
        Panel(
            "organizations",
            "Organizations",
            "contacts/panels/contact_organizations.html",
            contact_organizations,
            order=40,
            column="side",
        ),
    )
    register_panel(
        "contact",
        Panel(
            "consent",
            "Consent",
            "contacts/panels/contact_consent.html",
            contact_consent,
            order=50,
            column="side",
        ),
    )
    register_panel(
        "contact",
        Panel(
            "external_ids",
            "External ids",
            "contacts/panels/contact_external_ids.html",
            contact_external_ids,
            order=60,
            column="side",
        ),
    )
    register_panel(
        "organization",
        Panel(
            "details",
            "Organization details",
            "contacts/panels/organization_details.html",
            organization_details,
            order=10,
            column="side",
        ),
    )
    register_panel(
        "organization",
        Panel(
            "custom_fields",
            "Custom fields",
            "contacts/panels/custom_fields.html",
            organization_custom_fields,
            order=30,
            column="side",
        ),
    )
    register_panel(
        "organization",
        Panel(
            "members",
            "Contacts",
            "contacts/panels/organization_members.html",
            organization_members,
            order=20,
            column="main",
        ),
    )
    register_panel(
        "organization",
        Panel(
            "relationships",
            "Network",
            "contacts/panels/organization_relationships.html",
            organization_relationships,
            order=40,
            column="side",
        ),
    )
    register_panel(
        "home",
        Panel(
            "contacts_by_stage",
            "Contacts by lifecycle stage",
            "contacts/panels/home_stage_counts.html",
            home_stage_counts,
            order=10,
            column="main",
        ),
    )
    register_panel(
        "home",
        Panel(
            "recent_contacts",
            "Recently added contacts",
            "contacts/panels/home_recent_contacts.html",
            home_recent_contacts,
            order=30,
            column="side",
        ),
    )
