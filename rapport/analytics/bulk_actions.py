"""Bulk actions and lists of the analytics app.

`register()` (from `AnalyticsConfig.ready()`) adds:

- "Add to segment" for contacts and leads, through `services.add_to_list` (undone through
  `remove_from_list`, for the contacts it added);
- "Export" for contacts, leads, organizations and deals: the CSV of `data_exchange.exporting`
  (cells that would start a formula neutralized, as every export of Rapport does). It is
  registered here because only a top app may join the export with the lists of every app;
- the lists a selection bar can stand on here: a segment's members, the customers list (which
  an RFM cell links to with its filter) and the at-risk list.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.analytics import filters, segments, services
from rapport.analytics.models import Segment
from rapport.contacts.models import Contact
from rapport.core import bulk
from rapport.core.bulk import LIST_STATE, BulkAction, ListSource, Progress, error_text
from rapport.data_exchange import exporting


def _lists_for(actor):
    """The static lists the actor may add members to (their own; any for an administrator)."""
    return [
        segment
        for segment in Segment.objects.static().filter(is_archived=False).order_by("name")[:500]
        if access.can(actor, Action.CHANGE, segment)
    ]


class AddToSegment(BulkAction):
    """Put the selected contacts on a static list, a chunk at a time."""

    key = "add_to_segment"
    label = "Add to a segment"
    help_text = "Add to a static list (segment) you own."
    undoable = True

    def fields(self, actor):
        return {
            "segment": forms.TypedChoiceField(
                label="Static list",
                coerce=int,
                choices=[(s.pk, s.name) for s in _lists_for(actor)],
                error_messages={"invalid_choice": "Choose one of your static lists."},
            )
        }

    def describe(self, params):
        segment = Segment.objects.filter(pk=params.get("segment")).first()
        return f"Add to segment “{segment.name}”" if segment else self.label

    def run(self, actor, queryset, params, progress: Progress) -> None:
        segment = Segment.objects.filter(pk=params["segment"]).first()
        ids = list(queryset.values_list("pk", flat=True))
        if segment is None:
            for pk in ids:
                progress.failed(pk, "the segment no longer exists")
            return
        listed = set(
            segment.memberships.filter(contact_id__in=ids).values_list("contact_id", flat=True)
        )
        new = [pk for pk in ids if pk not in listed]
        for pk in ids:
            if pk in listed:
                progress.skipped(pk, "already in the segment")
        if not new:
            return
        try:
            services.add_to_list(actor=actor, segment=segment, contact_ids=new)
        except (ValidationError, PermissionDenied) as exc:
            # One refusal for the chunk: the list is not the actor's, or is no longer static.
            for pk in new:
                progress.failed(pk, error_text(exc))
            return
        for pk in new:
            progress.changed(pk, {"segment": segment.pk})

    def undo(self, actor, records, params, progress: Progress) -> None:
        pairs = list(records)
        segment = Segment.objects.filter(pk=params["segment"]).first()
        if segment is None:
            for record, _undo in pairs:
                progress.failed(record.pk, "the segment no longer exists")
            return
        ids = [record.pk for record, _undo in pairs]
        services.remove_from_list(actor=actor, segment=segment, contact_ids=ids)
        for pk in ids:
            progress.changed(pk)


class ExportRecords(BulkAction):
    """The selected records as CSV, downloaded from the operation's page. Nothing changes;
    the download reads the members again through the actor's scope."""

    key = "export"
    label = "Export (CSV)"
    help_text = "Download the selected records as a spreadsheet (CSV)."
    is_export = True
    export_entity = "contact"

    def run(self, actor, queryset, params, progress: Progress) -> None:
        for pk in queryset.values_list("pk", flat=True):
            progress.changed(pk)

    def columns(self):
        return exporting.choose_columns(self.export_entity, None)

    def stream(self, actor, queryset, params):
        return exporting.csv_chunks(queryset, self.columns())


DEAL_COLUMNS = [
    exporting.Column("id", "ID", lambda deal: deal.pk),
    exporting.Column("name", "Name", lambda deal: deal.name),
    exporting.Column("pipeline", "Pipeline", lambda deal: deal.pipeline.name),
    exporting.Column("stage", "Stage", lambda deal: deal.stage.name),
    exporting.Column("status", "Status", lambda deal: deal.get_status_display()),
    exporting.Column("amount", "Amount", lambda deal: deal.amount),
    exporting.Column("currency", "Currency", lambda deal: deal.currency),
    exporting.Column("expected_close_date", "Expected close", lambda d: d.expected_close_date),
    exporting.Column("owner", "Owner", lambda deal: str(deal.owner) if deal.owner else ""),
    exporting.Column("contact", "Contact", lambda deal: str(deal.contact or "")),
    exporting.Column("organization", "Organization", lambda deal: str(deal.organization or "")),
    exporting.Column(
        "tags", "Tags", lambda deal: [t.name for t in deal.tags.all()], prefetch=("tags",)
    ),
]


class ExportDeals(ExportRecords):
    def stream(self, actor, queryset, params):
        return exporting.csv_chunks(
            queryset.select_related("pipeline", "stage", "contact", "organization"), DEAL_COLUMNS
        )


def _export(entity_key: str, export_entity: str, base=ExportRecords) -> type:
    return type(
        f"Export{entity_key.title()}",
        (base,),
        {
            "entity": entity_key,
            "export_entity": export_entity,
            "filename": f"{entity_key}.csv",
        },
    )


# --- lists ---------------------------------------------------------------------------------
def _single_values(params) -> dict:
    return {
        name: (values[-1] if values else "")
        for name, values in params.items()
        if name not in LIST_STATE
    }


def segment_members(actor, params):
    """A segment's members the actor may see (`segment=<id>`)."""
    value = _single_values(params).get("segment", "")
    if not value.isdigit():
        raise ValidationError({"segment": ["Give the segment's id."]})
    segment = Segment.objects.filter(pk=int(value), is_archived=False).first()
    if segment is None or not access.can(actor, Action.VIEW, segment):
        raise ValidationError({"segment": ["No such segment."]})
    return segments.members(segment, actor)


def _customers(actor, params, preset=None):
    values = _single_values(params)
    values.update(preset or {})
    rows, _cleaned, errors = filters.apply_filters(filters.customer_rows(actor), values)
    if errors:
        raise ValidationError(errors)
    return Contact.objects.visible_to(actor).filter(pk__in=rows.values("contact_id"))


def customer_members(actor, params):
    """The customers list for its filter: also what an RFM cell links to."""
    return _customers(actor, params)


def at_risk_members(actor, params):
    """The at-risk list: valuable customers flagged as slipping away."""
    return _customers(actor, params, preset={"at_risk": "1", "tier": "valuable"})


def kpi_members(entity_key: str):
    """The records behind a KPI (`kpi=<key>`, `population=<…>`) as the KPI's page lists them,
    for a KPI whose records are of `entity_key`; within the actor's scope."""

    def members(actor, params):
        # Imported here: the frameworks build on analytics, not the other way round at load.
        from rapport.frameworks.kpis import KPIS, EvaluationContext, Unmeasurable
        from rapport.frameworks.kpis.base import POPULATION_LABELS, Population

        values = _single_values(params)
        kpi = KPIS.get(values.get("kpi", ""))
        if kpi is None or kpi.records is None:
            raise ValidationError({"kpi": ["No such KPI with records behind it."]})
        population = values.get("population", "")
        if not kpi.segmentable or population not in POPULATION_LABELS:
            population = Population.EVERYONE
        today = timezone.localdate()
        try:
            behind = kpi.records(EvaluationContext(as_of=today, today=today, population=population))
        except Unmeasurable as exc:
            raise ValidationError({"kpi": [exc.reason]}) from exc
        if behind.kind != entity_key:
            raise ValidationError({"kpi": [f"This KPI's records are {behind.kind}."]})
        return bulk.entity(entity_key).visible(actor).filter(pk__in=behind.queryset.values("pk"))

    return members


def register() -> None:
    """Add the analytics actions and lists to the bulk registry (AnalyticsConfig.ready)."""
    for entity_key in ("contacts", "leads"):
        bulk.register_action(
            type(f"AddToSegment{entity_key.title()}", (AddToSegment,), {"entity": entity_key})
        )
    bulk.register_action(_export("contacts", "contact"))
    bulk.register_action(_export("leads", "contact"))
    bulk.register_action(_export("organizations", "organization"))
    bulk.register_action(_export("deals", "deal", ExportDeals))
    bulk.register_list(
        ListSource(key="segment", entity="contacts", label="Segment", members=segment_members)
    )
    bulk.register_list(
        ListSource(key="customers", entity="contacts", label="Customers", members=customer_members)
    )
    for entity_key in ("contacts", "organizations", "deals"):
        bulk.register_list(
            ListSource(
                key=f"kpi_{entity_key}",
                entity=entity_key,
                label="Records behind a KPI",
                members=kpi_members(entity_key),
            )
        )
    bulk.register_list(
        ListSource(key="at_risk", entity="contacts", label="At risk", members=at_risk_members)
    )
