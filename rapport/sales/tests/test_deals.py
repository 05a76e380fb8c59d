"""Pipelines and deals through their services: validation, stage moves, undo, side effects."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rapport.audit.models import ChangeRecord
from rapport.contacts.tests.factories import make_contact
from rapport.customfields.services import create_definition
from rapport.sales.models import Deal, DealStageChange, Pipeline
from rapport.sales.services import deals as services
from rapport.sales.services.pipelines import (
    add_stage,
    create_pipeline,
    remove_stage,
    update_pipeline,
    update_stage,
)

pytestmark = pytest.mark.django_db


def test_a_pipeline_starts_with_standard_stages_ending_won_and_lost(pipeline):
    names = [(s.name, s.kind, s.weight) for s in pipeline.stages.all()]
    assert names == [
        ("Qualification", "open", 10),
        ("Needs analysis", "open", 25),
        ("Proposal", "open", 50),
        ("Negotiation", "open", 75),
        ("Won", "won", 100),
        ("Lost", "lost", 0),
    ]
    assert pipeline.is_default


def test_a_pipeline_needs_exactly_one_won_and_one_lost_stage(admin_user):
    with pytest.raises(ValidationError) as caught:
        create_pipeline(
            actor=admin_user,
            name="Odd",
            stages=[{"name": "Talk"}, {"name": "Yes", "kind": "won"}],
        )
    assert "stages" in caught.value.message_dict
    assert not Pipeline.objects.filter(name="Odd").exists()


def test_bad_stage_values_name_the_field(admin_user):
    with pytest.raises(ValidationError) as caught:
        create_pipeline(
            actor=admin_user,
            name="Odd",
            currency="euro",
            stages=[
                {"name": "Talk", "probability": 140},
                {"name": "Won", "kind": "won"},
                {"name": "Lost", "kind": "lost"},
            ],
        )
    errors = caught.value.message_dict
    assert "stages[0].probability" in errors
    assert errors["currency"] == ["Use a three-letter ISO 4217 code, e.g. EUR."]


def test_only_one_default_pipeline(admin_user, pipeline):
    second = create_pipeline(actor=admin_user, name="Renewals", is_default=True)
    pipeline.refresh_from_db()
    assert second.is_default and not pipeline.is_default
    with pytest.raises(ValidationError):
        update_pipeline(actor=admin_user, pipeline=second, is_default=False)


def test_stages_can_be_added_renamed_and_removed(admin_user, pipeline, stages):
    demo = add_stage(actor=admin_user, pipeline=pipeline, name="Demo", probability=30)
    assert demo.position == stages["Negotiation"].position + 5
    update_stage(actor=admin_user, stage=demo, name="Product demo", stall_days=10)
    demo.refresh_from_db()
    assert (demo.name, demo.stall_days) == ("Product demo", 10)
    with pytest.raises(ValidationError):
        update_stage(actor=admin_user, stage=stages["Won"], kind="open")
    with pytest.raises(ValidationError):
        remove_stage(actor=admin_user, stage=stages["Won"])
    remove_stage(actor=admin_user, stage=demo)
    assert not pipeline.stages.filter(name="Product demo").exists()


def test_create_deal_records_its_first_stage_and_audit(owner, pipeline, stages):
    contact = make_contact(actor=owner, owner=owner)
    deal = services.create_deal(
        actor=owner,
        name="Acme rollout",
        pipeline=pipeline,
        amount="12500.50",
        expected_close_date="2030-05-01",
        contact=contact,
        products=["Gold plan", "gold plan", " Onboarding "],
        tags=["Q2"],
    )
    assert deal.stage == stages["Qualification"]
    assert deal.status == "open"
    assert deal.owner == owner
    assert deal.amount == Decimal("12500.50")
    assert deal.currency == "EUR"
    assert deal.products == ["Gold plan", "Onboarding"]
    assert [t.name for t in deal.tags.all()] == ["Q2"]
    change = DealStageChange.objects.get(deal=deal)
    assert change.from_stage is None and change.to_stage == stages["Qualification"]
    assert ChangeRecord.objects.filter(entity="sales.deal", object_id=str(deal.pk)).count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", "-5", "Must not be negative."),
        ("amount", "12.345", "Use at most two decimal places."),
        ("amount", "lots", "Enter an amount, e.g. 12500.00."),
        ("amount", "1e20", "Must be below 1,000,000,000,000."),
        ("expected_close_date", "31/12/2030", "Enter a date as YYYY-MM-DD."),
        ("expected_close_date", None, "This field is required."),
        ("name", "x" * 201, "Use at most 200 characters (it has 201)."),
        ("name", "  ", "This field is required."),
        ("currency", "EURO", "Use a three-letter ISO 4217 code, e.g. EUR."),
        ("source", "carrier_pigeon", None),
        ("products", "a" * 101, "Each name has at most 100 characters."),
    ],
)
def test_bad_deal_input_is_refused_with_the_field_named(owner, pipeline, field, value, message):
    values = {"name": "Deal", "amount": "10", "expected_close_date": "2030-01-01", field: value}
    with pytest.raises(ValidationError) as caught:
        services.create_deal(actor=owner, pipeline=pipeline, **values)
    errors = caught.value.message_dict
    assert field in errors
    if message:
        assert message in errors[field]
    assert not Deal.objects.exists()
    assert not DealStageChange.objects.exists()


def test_deal_custom_fields_are_validated(owner, admin_user, pipeline):
    create_definition(
        actor=admin_user,
        entity="deal",
        key="segment",
        label="Segment",
        field_type="choice",
        choices=["SMB", "Enterprise"],
    )
    with pytest.raises(ValidationError) as caught:
        services.create_deal(
            actor=owner,
            pipeline=pipeline,
            name="D",
            expected_close_date="2030-01-01",
            custom_fields={"segment": "Huge", "nope": 1},
        )
    assert set(caught.value.message_dict) == {"custom_fields.segment", "custom_fields.nope"}
    deal = services.create_deal(
        actor=owner,
        pipeline=pipeline,
        name="D",
        expected_close_date="2030-01-01",
        custom_fields={"segment": "enterprise"},
    )
    assert deal.custom_fields == {"segment": "Enterprise"}


def test_move_records_the_change_and_the_time(owner, make_deal, stages):
    deal = make_deal(owner=owner)
    change = services.move_deal(actor=owner, deal=deal, stage=stages["Proposal"])
    deal.refresh_from_db()
    assert deal.stage == stages["Proposal"]
    assert deal.stage_entered_at == change.changed_at
    assert change.from_stage == stages["Qualification"]
    assert change.actor == owner
    # moving to the stage it is in changes nothing
    assert services.move_deal(actor=owner, deal=deal, stage=stages["Proposal"]) is None
    assert deal.stage_changes.count() == 2


def test_moving_to_lost_needs_a_reason_when_reasons_exist(owner, make_deal, stages, lost_reason):
    deal = make_deal(owner=owner)
    with pytest.raises(ValidationError) as caught:
        services.move_deal(actor=owner, deal=deal, stage=stages["Lost"])
    assert caught.value.message_dict == {"lost_reason": ["Choose why the deal was lost."]}
    deal.refresh_from_db()
    assert deal.status == "open"
    services.move_deal(
        actor=owner, deal=deal, stage=stages["Lost"], lost_reason=lost_reason, lost_note="Too dear"
    )
    deal.refresh_from_db()
    assert (deal.status, deal.lost_reason, deal.lost_note) == ("lost", lost_reason, "Too dear")
    assert deal.closed_at is not None


def test_a_stage_of_another_pipeline_is_refused(owner, admin_user, make_deal):
    other = create_pipeline(actor=admin_user, name="Other")
    deal = make_deal(owner=owner)
    with pytest.raises(ValidationError) as caught:
        services.move_deal(actor=owner, deal=deal, stage=other.stages.first())
    assert "stage_id" in caught.value.message_dict


def test_winning_makes_the_lead_a_customer(owner, make_deal, stages, lead):
    deal = make_deal(owner=owner, contact=lead)
    services.move_deal(actor=owner, deal=deal, stage=stages["Won"])
    lead.refresh_from_db()
    assert lead.lifecycle_stage == "customer"
    deal.refresh_from_db()
    assert deal.status == "won" and deal.closed_at is not None


def test_undo_restores_stage_time_and_reason(owner, make_deal, stages, lost_reason):
    deal = make_deal(owner=owner)
    services.move_deal(actor=owner, deal=deal, stage=stages["Lost"], lost_reason=lost_reason)
    deal.refresh_from_db()
    lost_at = deal.stage_entered_at
    change = services.move_deal(actor=owner, deal=deal, stage=stages["Proposal"])
    restored = services.undo_stage_move(actor=owner, change=change)
    assert restored.stage == stages["Lost"]
    assert restored.status == "lost"
    assert restored.lost_reason == lost_reason
    assert restored.stage_entered_at == lost_at
    assert not DealStageChange.objects.filter(pk=change.pk).exists()


def test_undo_only_the_latest_recent_move_by_its_author(owner, teammate, make_deal, stages):
    deal = make_deal(owner=owner)
    first = services.move_deal(actor=owner, deal=deal, stage=stages["Proposal"])
    second = services.move_deal(actor=owner, deal=deal, stage=stages["Negotiation"])
    with pytest.raises(ValidationError):
        services.undo_stage_move(actor=owner, change=first)
    with pytest.raises(PermissionDenied):
        services.undo_stage_move(actor=teammate, change=second)
    DealStageChange.objects.filter(pk=second.pk).update(
        recorded_at=timezone.now() - dt.timedelta(minutes=16)
    )
    second.refresh_from_db()
    with pytest.raises(ValidationError) as caught:
        services.undo_stage_move(actor=owner, change=second)
    assert "too old" in caught.value.messages[0]
    creation = deal.stage_changes.get(from_stage__isnull=True)
    with pytest.raises(ValidationError):
        services.undo_stage_move(actor=owner, change=creation)


def test_back_dated_history_for_imports(owner, make_deal, stages):
    start = timezone.now() - dt.timedelta(days=40)
    deal = make_deal(owner=owner, at=start)
    assert Deal.objects.get(pk=deal.pk).created_at == start
    services.move_deal(
        actor=owner, deal=deal, stage=stages["Proposal"], at=start + dt.timedelta(days=5)
    )
    with pytest.raises(ValidationError) as caught:
        services.move_deal(
            actor=owner, deal=deal, stage=stages["Negotiation"], at=start + dt.timedelta(days=1)
        )
    assert "at" in caught.value.message_dict
    with pytest.raises(ValidationError):
        services.move_deal(
            actor=owner,
            deal=deal,
            stage=stages["Negotiation"],
            at=timezone.now() + dt.timedelta(days=1),
        )


def test_update_refuses_stage_changes_and_unknown_fields(owner, make_deal, stages):
    deal = make_deal(owner=owner)
    with pytest.raises(ValidationError) as caught:
        services.update_deal(actor=owner, deal=deal, stage=stages["Won"])
    assert "stage" in caught.value.message_dict
    with pytest.raises(ValidationError):
        services.update_deal(actor=owner, deal=deal, colour="red")
    updated = services.update_deal(actor=owner, deal=deal, amount="99.90", tags=["hot"])
    assert updated.amount == Decimal("99.90")
    assert [t.name for t in updated.tags.all()] == ["hot"]
