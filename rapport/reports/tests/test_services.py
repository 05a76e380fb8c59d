"""Saving and running reports: the definition is checked field by field, a run counts only what
the runner may see, and who may open, change or delete a report goes through `access`."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from rapport.audit.models import ChangeRecord
from rapport.commerce.rates import add_rate
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.customfields.services import create_definition
from rapport.reports import services
from rapport.reports.models import Report

pytestmark = pytest.mark.django_db


def contacts_report(owner, **fields):
    fields.setdefault("group_by", "lifecycle_stage")
    return services.create_report(actor=owner, name="By stage", source="contacts", **fields)


def figures(result):
    axis = result.axes[0]
    return {axis.label_of(row): result.value(row) for row in result.table.rows}


def test_a_reps_run_counts_only_the_records_the_rep_may_see(
    owner, outsider, admin_user, other_team
):
    make_contact(owner=owner, lifecycle_stage="lead")
    make_contact(owner=owner, lifecycle_stage="customer")
    make_contact(owner=outsider, lifecycle_stage="lead")
    report = contacts_report(owner, shared_teams=[other_team.pk])

    assert figures(services.run_report(report, owner)) == {"Lead": 1, "Customer": 1}
    # Shared with the outsider's team: the outsider opens it and sees their own part only.
    assert figures(services.run_report(report, outsider)) == {"Lead": 1}
    assert figures(services.run_report(report, admin_user)) == {"Lead": 2, "Customer": 1}


def test_conditions_narrow_the_records(owner):
    make_contact(owner=owner, lifecycle_stage="lead", country="DE")
    make_contact(owner=owner, lifecycle_stage="lead", country="FR")
    report = contacts_report(
        owner, conditions={"all": [{"field": "country", "op": "eq", "value": "de"}]}
    )
    assert figures(services.run_report(report, owner)) == {"Lead": 1}


def test_two_groupings_and_owner_labels(owner, teammate):
    make_contact(owner=owner, lifecycle_stage="lead")
    make_contact(owner=teammate, lifecycle_stage="lead")
    make_contact(owner=teammate, lifecycle_stage="customer")
    report = contacts_report(owner, then_by="owner")
    result = services.run_report(report, owner)
    first, second = result.axes
    assert [first.label_of(row) for row in result.table.rows] == ["Lead", "Customer"]
    assert {second.label_of(c) for c in result.table.columns} == {str(owner), str(teammate)}
    assert result.value("lead", teammate.username) == 1
    assert result.value("customer", owner.username) == 0
    assert result.measure_label == "Number of contacts"


def test_deals_sum_in_the_company_currency_and_name_the_missing_rate(owner, admin_user, make_deal):
    close = dt.date(2026, 3, 10)
    add_rate(actor=admin_user, currency="USD", rate="0.5", valid_on=dt.date(2026, 1, 1))
    make_deal(owner=owner, amount="100.00", currency="USD", expected_close_date=close)
    make_deal(owner=owner, amount="40.00", currency="EUR", expected_close_date=close)
    make_deal(owner=owner, amount="80.00", currency="USD", expected_close_date=dt.date(2025, 3, 1))
    make_deal(owner=owner, amount="7.00", currency="GBP", expected_close_date=close)
    report = services.create_report(
        actor=owner,
        name="Pipeline value",
        source="deals",
        group_by="expected_close_date",
        group_period="quarter",
        measure="sum",
        measure_field="amount",
    )
    result = services.run_report(report, owner)
    assert result.currency == "EUR"
    assert figures(result)["Q1 2026"] == Decimal("90.00")  # 100 USD at 0.5 + 40 EUR
    assert figures(result)["Q1 2025"] == Decimal("0.00")
    assert [m.text for m in result.missing] == [
        "No GBP rate on or before 2026-03-10",
        "No USD rate on or before 2025-03-01",
    ]
    assert result.measure_label == "Sum of Amount"


def test_custom_number_fields_can_be_averaged(owner, admin_user):
    create_definition(
        actor=admin_user, entity="organization", key="seats", label="Seats", field_type="number"
    )
    make_organization(owner=owner, name="A", industry="Retail", custom_fields={"seats": 10})
    make_organization(owner=owner, name="B", industry="Retail", custom_fields={"seats": 20})
    make_organization(owner=owner, name="C", industry="", custom_fields={})
    report = services.create_report(
        actor=owner,
        name="Seats",
        source="organizations",
        group_by="industry",
        measure="average",
        measure_field="custom.seats",
    )
    assert figures(services.run_report(report, owner)) == {
        "Retail": Decimal("15.00"),
        "Not set": None,
    }


def test_drill_down_lists_the_records_behind_a_group(owner, outsider):
    lead = make_contact(owner=owner, lifecycle_stage="lead")
    make_contact(owner=owner, lifecycle_stage="customer")
    make_contact(owner=outsider, lifecycle_stage="lead")
    report = contacts_report(owner, group_by="created", then_by="lifecycle_stage")
    month = lead.created_at.date().replace(day=1).isoformat()
    behind = services.records_behind(report, owner, {"g1": month, "g2": "lead"})
    assert list(behind) == [lead]
    assert services.records_behind(report, owner, {"g1": month}).count() == 2
    assert services.records_behind(report, owner, {"g2": ""}).count() == 0
    with pytest.raises(ValidationError) as caught:
        services.records_behind(report, owner, {"g1": "2026-02-03"})
    assert "Created on" in caught.value.message_dict["g1"][0]


@pytest.mark.parametrize(
    ("fields", "where", "words"),
    [
        ({"group_by": "shoe_size"}, "group_by", "Unknown field “shoe_size”"),
        ({"measure": "sum", "measure_field": "city"}, "measure_field", "City is not a number"),
        ({"measure": "sum", "measure_field": "nope"}, "measure_field", "Unknown field “nope”"),
        ({"measure": "sum"}, "measure_field", "Choose the number"),
        ({"group_period": "month"}, "group_period", "Lifecycle stage is not a date"),
        ({"then_by": "owner", "chart": "pie"}, "chart", "shows one grouping"),
        (
            {"conditions": {"all": [{"field": "x", "op": "eq", "value": 1}]}},
            "conditions.all[0].field",
            "unknown field",
        ),
    ],
)
def test_bad_definitions_are_refused_naming_the_field(owner, fields, where, words):
    with pytest.raises(ValidationError) as caught:
        contacts_report(owner, **fields)
    assert words in " ".join(caught.value.message_dict[where])
    assert not Report.objects.exists()


def test_a_read_only_user_cannot_create(read_only_user):
    with pytest.raises(PermissionDenied):
        contacts_report(read_only_user)
    assert not Report.objects.exists()


def test_only_the_owner_or_an_administrator_changes_or_deletes(
    owner, teammate, outsider, admin_user, sales_team
):
    report = contacts_report(owner, shared_teams=[sales_team.pk])
    before = ChangeRecord.objects.count()
    for stranger in (teammate, outsider):
        with pytest.raises(PermissionDenied):
            services.update_report(actor=stranger, report=report, name="Mine now")
        with pytest.raises(PermissionDenied):
            services.delete_report(actor=stranger, report=report)
    assert ChangeRecord.objects.count() == before
    services.update_report(actor=admin_user, report=report, name="Renamed")
    assert Report.objects.get().name == "Renamed"
    services.delete_report(actor=owner, report=report)
    assert not Report.objects.exists()


def test_who_may_open_a_report(owner, teammate, outsider, admin_user, other_team, read_only_user):
    from rapport.accounts import access

    report = contacts_report(owner)

    def visible(user) -> bool:
        # The list's filter and the one decision agree, and a run asks the decision.
        listed = Report.objects.visible_to(user).filter(pk=report.pk).exists()
        assert listed == access.can(user, "view", report)
        if not listed:
            with pytest.raises(PermissionDenied):
                services.run_report(report, user)
        return listed

    assert visible(owner) and visible(admin_user)
    assert not visible(outsider)
    assert not visible(teammate)  # the team scope covers contacts and sales, not analytics
    services.update_report(actor=owner, report=report, shared_teams=[other_team.pk])
    assert visible(outsider)
    assert not visible(read_only_user)
    services.update_report(actor=owner, report=report, shared_roles=[read_only_user.role_id])
    assert visible(read_only_user)


def test_the_source_is_fixed_and_unknown_changes_are_named(owner):
    report = contacts_report(owner)
    with pytest.raises(ValidationError) as caught:
        services.update_report(actor=owner, report=report, source="deals", colour="red")
    assert caught.value.message_dict == {
        "colour": ["Unknown field."],
        "source": ["This cannot be changed."],
    }
