"""Sales and process KPIs on hand-built deals, leads and tasks with known answers."""

import datetime as dt

import pytest
from django.utils import timezone

from rapport.core.display import money_text
from rapport.frameworks.kpis import Measurement, NotMeasurable
from rapport.frameworks.tests.conftest import at, deal, measure

pytestmark = pytest.mark.django_db


def value(key, **context):
    result = measure(key, **context)
    assert isinstance(result, Measurement), result
    return result


@pytest.fixture
def deals(owner, pipeline, stages):
    return {
        # Qualification → Proposal → Won: 50 days from creation to the win.
        "won": deal(
            owner=owner,
            pipeline=pipeline,
            stage=stages["Qualification"],
            created=at(100),
            moves=[(stages["Proposal"], at(80)), (stages["Won"], at(50))],
        ),
        # Qualification → Needs analysis → Lost.
        "lost": deal(
            owner=owner,
            pipeline=pipeline,
            stage=stages["Qualification"],
            created=at(90),
            moves=[(stages["Needs analysis"], at(70)), (stages["Lost"], at(40))],
        ),
        # Qualification → Negotiation → back to Proposal; open, 500 due in 30 days.
        "open": deal(
            owner=owner,
            pipeline=pipeline,
            stage=stages["Qualification"],
            created=at(60),
            amount="500.00",
            moves=[(stages["Negotiation"], at(30)), (stages["Proposal"], at(20))],
        ),
        # Won more than a year ago: outside every window.
        "old": deal(
            owner=owner,
            pipeline=pipeline,
            stage=stages["Qualification"],
            created=at(400),
            moves=[(stages["Won"], at(380))],
        ),
    }


def test_win_rate(deals):
    result = value("win_rate")
    assert (result.numerator, result.denominator) == (1, 2)
    assert result.value == 50.0


def test_stage_conversion(deals):
    # Exits from open stages in 12 months: 4 forward (Q→P, P→Won, Q→N, Q→Neg), 1 lost (N→Lost),
    # 1 back (Neg→P).
    result = value("stage_conversion_rate")
    assert (result.numerator, result.denominator) == (4, 6)


def test_sales_cycle(deals):
    assert value("sales_cycle_days").value == pytest.approx(50.0)


def test_pipeline_coverage(deals):
    # Open and due within 90 days: 500. Won in the last 90 days: 1000.
    result = value("pipeline_coverage")
    assert (result.value, result.numerator, result.denominator) == pytest.approx((0.5, 500, 1000))


def test_sales_kpis_as_of_a_past_day(deals):
    # 45 days ago the lost deal was still open: the two wins (50 and 380 days ago) had closed.
    past = timezone.localdate() - dt.timedelta(days=45)
    result = value("win_rate", as_of=past)
    assert (result.numerator, result.denominator) == (2, 2)
    # 75 days ago the year before held the old deal's win (20 days after its creation) and
    # the first forward move of the recent win; the other deals had not moved yet.
    early = timezone.localdate() - dt.timedelta(days=75)
    result = value("stage_conversion_rate", as_of=early)
    assert (result.numerator, result.denominator) == (2, 2)
    assert value("sales_cycle_days", as_of=early).value == pytest.approx(20.0)
    # Before any deal existed there is nothing to measure.
    long_ago = timezone.localdate() - dt.timedelta(days=800)
    assert isinstance(measure("win_rate", as_of=long_ago), NotMeasurable)


def test_forecast_accuracy(owner, pipeline, stages):
    # Last month's forecast: a 2,000 deal in Proposal (50 %) and a 1,000 deal in Negotiation
    # (75 %) expected to close in it → 1,750. The first was won that month: 2,000.
    first = timezone.localdate().replace(day=1)
    start = (first - dt.timedelta(days=1)).replace(day=1)
    noon = dt.time(12)
    moment = lambda day: timezone.make_aware(dt.datetime.combine(day, noon))  # noqa: E731
    deal(
        owner=owner,
        pipeline=pipeline,
        stage=stages["Proposal"],
        created=moment(start - dt.timedelta(days=10)),
        amount="2000.00",
        expected_close_date=start + dt.timedelta(days=5),
        moves=[(stages["Won"], moment(start + dt.timedelta(days=10)))],
    )
    deal(
        owner=owner,
        pipeline=pipeline,
        stage=stages["Negotiation"],
        created=moment(start - dt.timedelta(days=5)),
        amount="1000.00",
        expected_close_date=start + dt.timedelta(days=20),
    )
    result = value("forecast_accuracy")
    assert (result.numerator, result.denominator) == pytest.approx((2000, 1750))
    assert result.value == pytest.approx(100 * (1 - 250 / 1750))


def test_forecast_accuracy_without_a_forecast(deals):
    result = measure("forecast_accuracy")
    assert isinstance(result, NotMeasurable)
    assert "expected nothing to close" in result.reason


def test_overdue_task_share(owner):
    from rapport.sales.services.work import complete_task, create_task

    create_task(actor=owner, title="Late", due_at=at(2))
    create_task(actor=owner, title="Later", due_at=timezone.now() + dt.timedelta(days=3))
    done = create_task(actor=owner, title="Done", due_at=at(5))
    complete_task(actor=owner, task=done)
    result = value("overdue_task_share")
    assert (result.numerator, result.denominator) == (1, 2)


def _backdate_arrival(contact, moment):
    from rapport.contacts.models import LifecycleChange

    LifecycleChange.objects.filter(contact=contact, from_stage="").update(changed_at=moment)


def test_lead_response_time_and_conversion(owner):
    from rapport.contacts.services import set_lifecycle_stage
    from rapport.contacts.tests.factories import make_contact
    from rapport.interactions.services import log_interaction

    answered = make_contact(owner=owner, first_name="Quick", lifecycle_stage="lead")
    waiting = make_contact(owner=owner, first_name="Waiting", lifecycle_stage="lead")
    _backdate_arrival(answered, at(10))
    _backdate_arrival(waiting, at(5))
    log_interaction(actor=owner, kind="call", contact=answered, occurred_at=at(10, hour=15))
    # A note is internal: it does not answer the lead.
    log_interaction(
        actor=owner, kind="note", contact=waiting, body="Called back", occurred_at=at(4)
    )
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    # Answered after 3 h; the other has waited from noon five days ago to the end of yesterday.
    result = value("lead_response_hours", as_of=yesterday)
    assert result.denominator == 2
    assert result.value == pytest.approx((3 + 4 * 24 + 12) / 2)

    set_lifecycle_stage(actor=owner, contact=answered, stage="opportunity")
    assert value("lead_conversion_rate").value == 50.0
    assert value("lead_conversion_rate", as_of=yesterday).value == 0.0


def test_pipeline_coverage_converts_each_deal_at_its_own_date(
    deals, owner, admin_user, pipeline, stages
):
    from rapport.commerce import rates

    today = timezone.localdate()
    # 0.5 until 45 days ago, 2 since: the dollar win (closed 42 days ago) counts at 2, the open
    # dollar deal (due in 30 days) at 2 as well.
    rates.add_rate(actor=admin_user, currency="USD", rate="0.5", valid_on="2000-01-01")
    rates.add_rate(
        actor=admin_user, currency="USD", rate="2", valid_on=today - dt.timedelta(days=45)
    )
    deal(
        owner=owner,
        pipeline=pipeline,
        stage=stages["Qualification"],
        created=at(60),
        amount="100.00",
        currency="USD",
        moves=[(stages["Won"], at(42))],
    )
    deal(
        owner=owner,
        pipeline=pipeline,
        stage=stages["Qualification"],
        created=at(10),
        amount="50.00",
        currency="USD",
    )
    result = value("pipeline_coverage")
    assert (result.numerator, result.denominator) == pytest.approx((600, 1200))


def test_a_deal_without_a_rate_makes_pipeline_coverage_not_measurable(
    deals, owner, pipeline, stages
):
    due = timezone.localdate() + dt.timedelta(days=30)
    deal(
        owner=owner,
        pipeline=pipeline,
        stage=stages["Qualification"],
        created=at(10),
        amount="80.00",
        currency="GBP",
        expected_close_date=due,
    )
    result = measure("pipeline_coverage")
    assert isinstance(result, NotMeasurable)
    assert result.reason == (
        "The pipeline in EUR cannot be computed without every deal's exchange rate: "
        f"No GBP rate on or before {due.isoformat()} (1 deal, {money_text(80, 'GBP')}). "
        "An administrator can add the rates."
    )
