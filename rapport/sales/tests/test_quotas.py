"""Quotas: setting them (who may, bad input), who sees them, and attainment in the company
currency with dated rates and a missing one."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.audit.models import ChangeRecord
from rapport.commerce import rates
from rapport.core import display
from rapport.sales import quota_periods, quotas
from rapport.sales.models import Quota
from rapport.sales.services.pipelines import create_pipeline
from rapport.sales.tests.quota_helpers import MARCH, Q1

pytestmark = pytest.mark.django_db

D = Decimal


def march_quota(actor, amount="10000", **who):
    return quotas.set_quota(
        actor=actor, amount=amount, period_start=MARCH[0], period_end=MARCH[1], **who
    )


# --- attainment --------------------------------------------------------------------------------


def test_attainment_converts_each_won_deal_at_its_close_day_and_names_the_missing_rate(
    admin_user, owner, teammate, close_deal, make_deal, usd_rates
):
    quota = march_quota(admin_user, user=owner)
    close_deal(owner, "3000.00", on=dt.date(2025, 3, 10))
    close_deal(owner, "1000.00", on=dt.date(2025, 3, 10), currency="USD")  # 0.9 → 900
    close_deal(owner, "2000.00", on=dt.date(2025, 3, 20), currency="USD")  # 0.8 → 1600
    close_deal(owner, "500.00", on=dt.date(2025, 3, 5), currency="GBP")  # no rate
    close_deal(owner, "7000.00", on=dt.date(2025, 4, 1))  # after the period
    close_deal(owner, "8000.00", on=dt.date(2025, 3, 12), stage="Lost")
    close_deal(teammate, "9000.00", on=dt.date(2025, 3, 12))  # someone else's
    make_deal(owner=owner, amount="4000.00", expected_close_date=dt.date(2025, 3, 28))  # 10 %

    [result] = quotas.attainment(actor=admin_user, period_start=MARCH[0], period_end=MARCH[1])

    assert result.quota == quota
    assert (result.currency, result.target) == ("EUR", D("10000.00"))
    assert result.won.amount == D("5500.00")
    assert result.won_deals == 3
    assert result.percent == D("55.0")
    assert result.remaining == D("4500.00")
    assert (result.open_pipeline.amount, result.open_deals) == (D("4000.00"), 1)
    assert result.weighted_open == D("400.00")
    assert result.forecast == D("5900.00")
    [gap] = result.missing
    assert (gap.currency, gap.earliest, gap.count, gap.amount) == (
        "GBP",
        dt.date(2025, 3, 5),
        1,
        D("500.00"),
    )
    assert not result.is_complete


def test_a_team_quota_counts_every_members_deals_and_the_total_only_the_reps(
    admin_user, owner, teammate, sales_team, close_deal
):
    march_quota(admin_user, amount="4000", user=owner)
    march_quota(admin_user, amount="6000", user=teammate)
    march_quota(admin_user, amount="20000", team=sales_team)
    close_deal(owner, "1000.00", on=dt.date(2025, 3, 3))
    close_deal(teammate, "2000.00", on=dt.date(2025, 3, 4))

    results = quotas.attainment(actor=admin_user, period_start=MARCH[0], period_end=MARCH[1])

    by_label = {r.quota.assignee_label: r for r in results}
    assert by_label["Team Sales North"].won.amount == D("3000.00")
    assert by_label["Team Sales North"].percent == D("15.0")
    assert [r.quota.user_id is None for r in results] == [False, False, True]
    summed = quotas.total(results)
    assert (summed.target, summed.won, summed.percent, summed.quotas) == (
        D("10000.00"),
        D("3000.00"),
        D("30.0"),
        2,
    )


def test_a_pipeline_quota_counts_only_that_pipelines_deals(admin_user, owner, close_deal, pipeline):
    other = create_pipeline(actor=admin_user, name="Renewals", currency="EUR")
    march_quota(admin_user, amount="1000", user=owner, pipeline=pipeline)
    march_quota(admin_user, amount="1000", user=owner)
    close_deal(owner, "100.00", on=dt.date(2025, 3, 3))
    won_elsewhere = other.stages.get(kind="won")
    from rapport.sales.services.deals import create_deal
    from rapport.sales.tests.quota_helpers import noon

    create_deal(
        actor=owner,
        owner=owner,
        name="Renewal",
        pipeline=other,
        stage=won_elsewhere,
        amount="300.00",
        expected_close_date=dt.date(2025, 3, 3),
        at=noon(dt.date(2025, 3, 3)),
    )

    every = quotas.attainment(actor=admin_user, period_start=MARCH[0], period_end=MARCH[1])
    only = quotas.attainment(
        actor=admin_user, period_start=MARCH[0], period_end=MARCH[1], pipeline=pipeline
    )

    assert [(r.quota.pipeline_id, r.won.amount) for r in every] == [
        (None, D("400.00")),
        (pipeline.pk, D("100.00")),
    ]
    assert [r.quota.pipeline_id for r in only] == [pipeline.pk]


def test_a_quarter_quota_counts_the_whole_quarter(admin_user, owner, close_deal):
    quotas.set_quota(
        actor=admin_user, amount="5000", user=owner, period_start=Q1[0], period_end=Q1[1]
    )
    close_deal(owner, "1000.00", on=dt.date(2025, 1, 2))
    close_deal(owner, "1500.00", on=dt.date(2025, 3, 31))

    [result] = quotas.attainment(actor=admin_user, period_start=Q1[0], period_end=Q1[1])

    assert (result.quota.period, result.won.amount, result.percent) == (
        "quarter",
        D("2500.00"),
        D("50.0"),
    )
    assert quotas.attainment(actor=admin_user, period_start=MARCH[0], period_end=MARCH[1]) == []


def test_a_quota_set_in_a_former_company_currency_is_not_compared(admin_user, owner, close_deal):
    march_quota(admin_user, user=owner)
    close_deal(owner, "1000.00", on=dt.date(2025, 3, 3))
    rates.set_company_currency(actor=admin_user, code="GBP")

    [result] = quotas.attainment(actor=admin_user, period_start=MARCH[0], period_end=MARCH[1])

    assert (result.target, result.percent, result.remaining) == (None, None, None)
    assert result.problem == (
        "Set in EUR, but the company currency is now GBP: set this quota again."
    )


# --- setting -----------------------------------------------------------------------------------


def test_setting_a_quota_again_changes_its_amount_and_both_are_audited(admin_user, owner):
    first = march_quota(admin_user, amount="1000", user=owner)
    again = march_quota(admin_user, amount="1500.50", user=owner)

    assert again.pk == first.pk
    assert Quota.objects.get().amount == D("1500.50")
    assert (again.period, again.currency) == ("month", "EUR")
    actions = list(
        ChangeRecord.objects.filter(entity="sales.quota").values_list("action", flat=True)
    )
    assert sorted(actions) == ["create", "update"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"amount": "0"}, "amount", "Must be greater than zero."),
        ({"amount": "-5"}, "amount", "Must not be negative."),
        ({"amount": "lots"}, "amount", "Enter an amount, e.g. 12500.00."),
        ({"amount": ""}, "amount", "This field is required."),
        (
            {"period_end": dt.date(2025, 2, 28)},
            "period_end",
            "Must be on or after the period's start.",
        ),
        (
            {"period_end": dt.date(2025, 3, 15)},
            "period_end",
            "A quota covers one calendar month or quarter: from its first day to its last.",
        ),
        ({"period_start": "not a date"}, "period_start", "Enter a date as YYYY-MM-DD."),
        ({"user": None}, "user", "Give either a person or a team."),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    admin_user, owner, changes, field, message
):
    values = {
        "amount": "1000",
        "period_start": MARCH[0],
        "period_end": MARCH[1],
        "user": owner,
        **changes,
    }
    with pytest.raises(ValidationError) as caught:
        quotas.set_quota(actor=admin_user, **values)
    assert caught.value.message_dict[field] == [message]
    assert not Quota.objects.exists()
    assert not ChangeRecord.objects.filter(entity="sales.quota").exists()


def test_a_quota_for_someone_who_cannot_win_deals_is_refused(admin_user, read_only_user):
    with pytest.raises(ValidationError) as caught:
        march_quota(admin_user, user=read_only_user)
    assert caught.value.message_dict["user"] == [
        f"{read_only_user} has a read-only role and could not win deals."
    ]


# --- who may -----------------------------------------------------------------------------------


def test_a_rep_and_a_read_only_seat_may_not_set_or_remove_quotas(
    admin_user, owner, teammate, read_only_user
):
    quota = march_quota(admin_user, user=owner)
    for actor in (owner, read_only_user):
        with pytest.raises(PermissionDenied):
            march_quota(actor, amount="1", user=owner)
        with pytest.raises(PermissionDenied):
            quotas.delete_quota(actor=actor, quota=quota)
        with pytest.raises(PermissionDenied):
            quotas.set_quotas(actor=actor, entries=[])
    assert Quota.objects.get().amount == D("10000.00")
    assert not quotas.may_manage_quotas(owner)


def test_a_team_lead_sets_quotas_for_their_team_only(
    team_manager, owner, sales_team, southerner, other_sales_team
):
    assert quotas.may_manage_quotas(team_manager)
    march_quota(team_manager, user=owner)
    march_quota(team_manager, team=sales_team)
    with pytest.raises(ValidationError) as caught:
        march_quota(team_manager, user=southerner)
    assert caught.value.message_dict["user"] == ["Sam South is outside your access."]
    with pytest.raises(ValidationError) as caught:
        march_quota(team_manager, team=other_sales_team)
    assert caught.value.message_dict["team"] == ["Team Sales South is outside your access."]
    assert Quota.objects.count() == 2


def test_a_writer_who_sees_every_sales_record_is_a_manager(southerner, owner):
    director = UserFactory(
        username="director", role=RoleFactory(name="Director", scopes={"sales": "all"})
    )
    assert quotas.may_manage_quotas(director)
    march_quota(director, user=owner)
    march_quota(director, user=southerner)
    assert Quota.objects.count() == 2


def test_reps_see_their_own_and_their_teams_quotas_never_another_teams(
    admin_user, owner, teammate, sales_team, southerner, own_scope_role
):
    mine = march_quota(admin_user, user=owner)
    theirs = march_quota(admin_user, user=teammate)
    team = march_quota(admin_user, team=sales_team)
    south = march_quota(admin_user, user=southerner)
    loner = UserFactory(username="loner", role=own_scope_role, teams=[sales_team])
    alone = march_quota(admin_user, user=loner)

    assert set(Quota.objects.visible_to(owner)) == {mine, theirs, team, alone}
    assert set(Quota.objects.visible_to(southerner)) == {south}
    assert set(Quota.objects.visible_to(loner)) == {alone, team}
    assert set(Quota.objects.visible_to(admin_user)) == {mine, theirs, team, south, alone}
    visible = quotas.attainment(actor=southerner, period_start=MARCH[0], period_end=MARCH[1])
    assert [r.quota for r in visible] == [south]


# --- the grid ----------------------------------------------------------------------------------


def test_the_grid_saves_all_cells_or_none(admin_user, owner, teammate):
    april = quota_periods.parse_key("2025-04")
    march_quota(admin_user, user=teammate)

    def cell(name, user, period, amount):
        return quotas.QuotaEntry(
            field=name, period_start=period[0], period_end=period[1], amount=amount, user=user
        )

    with pytest.raises(ValidationError) as caught:
        quotas.set_quotas(
            actor=admin_user,
            entries=[cell("a", owner, MARCH, "100"), cell("b", owner, april, "-1")],
        )
    assert caught.value.message_dict == {"b": ["Must not be negative."]}
    assert list(Quota.objects.values_list("user_id", flat=True)) == [teammate.pk]

    result = quotas.set_quotas(
        actor=admin_user,
        entries=[
            cell("a", owner, MARCH, "100"),
            cell("b", owner, april, "200"),
            cell("c", teammate, MARCH, ""),  # emptied: removed
        ],
    )
    assert (result.saved, result.removed) == (2, 1)
    assert sorted(Quota.objects.values_list("user_id", "amount")) == [
        (owner.pk, D("100.00")),
        (owner.pk, D("200.00")),
    ]


# --- periods -----------------------------------------------------------------------------------


def test_periods_are_calendar_months_and_quarters():
    assert quota_periods.parse_key("2026-02") == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert quota_periods.parse_key("2024-q1") == (dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    assert quota_periods.key_of(dt.date(2026, 10, 1), dt.date(2026, 12, 31)) == "2026-Q4"
    assert quota_periods.label(dt.date(2026, 10, 1), dt.date(2026, 12, 31)) == "Q4 2026"
    assert quota_periods.label(dt.date(2026, 4, 1), dt.date(2026, 4, 30)) == "April 2026"
    assert quota_periods.kind_of(dt.date(2026, 4, 1), dt.date(2026, 4, 29)) is None
    odd = (dt.date(2024, 4, 1), dt.date(2024, 4, 29))
    assert quota_periods.label(*odd) == f"{display.day_text(odd[0])} – {display.day_text(odd[1])}"
    for bad in ("2026-13", "2026-Q5", "26-04", "", "2026-04-01"):
        with pytest.raises(ValueError, match="Give a month as YYYY-MM"):
            quota_periods.parse_key(bad)
    picker = quota_periods.picker(dt.date(2026, 1, 15), back=1, forward=0)
    assert [group["key"] for group in picker] == ["2025-Q4", "2026-Q1"]
    assert [month["label"] for month in picker[1]["months"]] == [
        "January 2026",
        "February 2026",
        "March 2026",
    ]


def test_attainment_reads_the_same_few_queries_however_many_quotas(
    admin_user, owner, teammate, sales_team, southerner, close_deal, usd_rates
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            quotas.attainment(actor=admin_user, period_start=MARCH[0], period_end=MARCH[1])
        return len(queries)

    march_quota(admin_user, user=owner)
    close_deal(owner, "10.00", on=dt.date(2025, 3, 3), currency="USD")
    few = count()
    for who in ({"user": teammate}, {"user": southerner}, {"team": sales_team}):
        march_quota(admin_user, **who)
        close_deal(who.get("user") or owner, "10.00", on=dt.date(2025, 3, 4), currency="USD")
    assert count() == few + 1  # the teams' members, once for every team
