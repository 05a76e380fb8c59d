"""Contacts, organizations and what hangs off them: emails, phones, memberships, consent."""

from django.conf import settings
from django.db import models
from django.urls import reverse

from rapport.contacts.choices import (
    ConsentChannel,
    ConsentStatus,
    ContactSource,
    LabelKind,
    LawfulBasis,
    LifecycleStage,
    OrganizationSize,
    RelationshipKind,
)
from rapport.contacts.querysets import (
    ContactQuerySet,
    OrganizationQuerySet,
    stage_rank,
    touched,
)
from rapport.core.models import TimeStampedModel


class Tag(TimeStampedModel):
    name = models.CharField(max_length=50, unique=True)
    color = models.CharField(max_length=7, default="#64748b")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Organization(TimeStampedModel):
    """A company or institution. Its contacts join through Membership."""

    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True, db_index=True)
    website = models.URLField(max_length=500, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    size = models.CharField(max_length=10, choices=OrganizationSize.choices, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    street = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    region = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_organizations",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="organizations")
    custom_fields = models.JSONField(default=dict, blank=True)
    is_archived = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    # Lowercased name + domain, kept by the services, so search is one indexed column.
    search_text = models.TextField(blank=True, default="")

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["is_archived", "name", "id"]),
            models.Index(fields=["owner", "is_archived"]),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("contacts:organization_detail", args=[self.pk])


class Contact(TimeStampedModel):
    """A person. Leads are contacts in the lead stages; there is no second person table."""

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    job_title = models.CharField(max_length=150, blank=True)
    # The primary email and phone, copied from ContactEmail / ContactPhone for fast lists.
    primary_email = models.CharField(max_length=254, blank=True, db_index=True)
    primary_phone = models.CharField(max_length=32, blank=True, db_index=True)
    street = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    region = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    lifecycle_stage = models.CharField(
        max_length=30, choices=LifecycleStage.choices, default=LifecycleStage.LEAD
    )
    lifecycle_changed_at = models.DateTimeField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_contacts",
    )
    organizations = models.ManyToManyField(
        Organization, through="Membership", related_name="contacts", blank=True
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")
    source = models.CharField(
        max_length=20, choices=ContactSource.choices, default=ContactSource.MANUAL
    )
    source_detail = models.CharField(max_length=200, blank=True)
    about = models.TextField(blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    is_archived = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    last_touched_at = models.DateTimeField(null=True, blank=True, db_index=True)
    search_text = models.TextField(blank=True, default="")

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        indexes = [
            models.Index(fields=["is_archived", "last_name", "first_name", "id"]),
            models.Index(fields=["is_archived", "-created_at", "-id"], name="contact_recent_idx"),
            models.Index(fields=["owner", "is_archived", "last_name"]),
            models.Index(fields=["lifecycle_stage", "is_archived"]),
            # The list's expression sorts (see querysets.CONTACT_SORT_KEYS), keyset-ready.
            models.Index(
                models.F("is_archived"),
                stage_rank(),
                models.F("last_name"),
                models.F("first_name"),
                models.F("id"),
                name="contact_stage_rank_idx",
            ),
            models.Index(
                models.F("is_archived"), touched(), models.F("id"), name="contact_touched_idx"
            ),
        ]

    def __str__(self):
        return self.full_name

    @property
    def full_name(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.primary_email or self.primary_phone or f"Contact #{self.pk}"

    def get_absolute_url(self):
        return reverse("contacts:contact_detail", args=[self.pk])


class ContactEmail(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="emails")
    email = models.CharField(max_length=254, db_index=True)  # lowercased by the services
    label = models.CharField(max_length=10, choices=LabelKind.choices, default=LabelKind.WORK)
    is_primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_primary", "id"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "email"], name="uniq_contact_email"),
            models.UniqueConstraint(
                fields=["contact"], condition=models.Q(is_primary=True), name="one_primary_email"
            ),
        ]

    def __str__(self):
        return self.email


class ContactPhone(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="phones")
    number = models.CharField(max_length=32, db_index=True)  # E.164
    label = models.CharField(max_length=10, choices=LabelKind.choices, default=LabelKind.WORK)
    is_primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_primary", "id"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "number"], name="uniq_contact_phone"),
            models.UniqueConstraint(
                fields=["contact"], condition=models.Q(is_primary=True), name="one_primary_phone"
            ),
        ]

    def __str__(self):
        return self.number


class ExternalId(models.Model):
    """An id the contact carries in another system (shop, old CRM, import file)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="external_ids")
    system = models.CharField(max_length=50)
    value = models.CharField(max_length=200)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["system", "value"], name="uniq_external_id")]

    def __str__(self):
        return f"{self.system}:{self.value}"


class Membership(TimeStampedModel):
    """A contact's place in an organization."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=150, blank=True)
    is_primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_primary", "organization__name"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "organization"], name="uniq_membership")
        ]

    def __str__(self):
        return f"{self.contact} @ {self.organization}"


class OrganizationRelationship(TimeStampedModel):
    """A directed tie between organizations: the network of the Value Chain model."""

    from_organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="outgoing_relationships"
    )
    to_organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="incoming_relationships"
    )
    kind = models.CharField(max_length=20, choices=RelationshipKind.choices)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["from_organization", "to_organization", "kind"],
                name="uniq_org_relationship",
            ),
            models.CheckConstraint(
                condition=~models.Q(from_organization=models.F("to_organization")),
                name="org_relationship_not_self",
            ),
        ]

    def __str__(self):
        return f"{self.from_organization} {self.get_kind_display()} {self.to_organization}"


class LifecycleChange(models.Model):
    """One move of a contact through the lifecycle, dated: the stage history."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="lifecycle_changes")
    from_stage = models.CharField(max_length=30, choices=LifecycleStage.choices, blank=True)
    to_stage = models.CharField(max_length=30, choices=LifecycleStage.choices)
    changed_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self):
        return f"{self.from_stage or '—'} → {self.to_stage}"


class Consent(models.Model):
    """The current consent of a contact on one channel; earlier states are in the audit record."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(max_length=20, choices=ConsentChannel.choices)
    status = models.CharField(
        max_length=20, choices=ConsentStatus.choices, default=ConsentStatus.UNKNOWN
    )
    lawful_basis = models.CharField(max_length=30, choices=LawfulBasis.choices, blank=True)
    recorded_at = models.DateTimeField()
    source = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["channel"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "channel"], name="uniq_consent_channel")
        ]

    def __str__(self):
        return f"{self.get_channel_display()}: {self.get_status_display()}"


class ListKind(models.TextChoices):
    CONTACTS = "contacts", "Contacts"
    ORGANIZATIONS = "organizations", "Organizations"


class SavedViewQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The user's own views and every shared one. A shared view shares filters, columns
        and sort, never records: the list it opens is still scoped by the reader."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(models.Q(owner=user) | models.Q(is_shared=True))


class SavedView(TimeStampedModel):
    """A named set of list filters, columns and sort, personal or shared with everyone.

    Written only by `contacts.saved_views`; personal in `accounts.access` (only its owner or
    an administrator may change or delete it)."""

    list_kind = models.CharField(max_length=20, choices=ListKind.choices)
    name = models.CharField(max_length=80)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_shared = models.BooleanField(default=False)
    filters = models.JSONField(default=dict, blank=True)  # parameter → [values]
    columns = models.JSONField(default=list, blank=True)  # column keys, in order
    sort = models.CharField(max_length=40, blank=True)

    objects = SavedViewQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "list_kind", "name"], name="uniq_saved_view_name"
            )
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        from django.utils.http import urlencode

        name = (
            "contacts:contact_list"
            if self.list_kind == ListKind.CONTACTS
            else ("contacts:organization_list")
        )
        params = dict(self.filters)
        if self.sort:
            params["sort"] = self.sort
        params["view"] = str(self.pk)
        return f"{reverse(name)}?{urlencode(params, doseq=True)}"


class ListPreference(models.Model):
    """One user's choices for one list: the columns shown and the view opened by default."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    list_kind = models.CharField(max_length=20, choices=ListKind.choices)
    columns = models.JSONField(default=list, blank=True)
    default_view = models.ForeignKey(
        SavedView, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "list_kind"], name="uniq_list_preference")
        ]
