"""Test data for the CRM models, built through the services with dates relative to today."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from rapport.commerce.tests.factories import make_order
from rapport.contacts.tests.factories import make_contact
from rapport.frameworks.kpis import EvaluationContext, evaluate, get_kpi
from rapport.interactions.services import log_interaction


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def at(days_ago: float, hour: int = 12) -> dt.datetime:
    """Noon (by default) `days_ago` days before today, in the site's time zone."""
    day = timezone.localdate() - dt.timedelta(days=int(days_ago))
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def customer(*, name: str, orders=(), owner=None, stage: str = "customer", **fields):
    """A contact with paid orders: `orders` is a list of (days ago, amount)."""
    fields.setdefault("emails", [{"email": f"{name.lower()}@example.com"}])
    contact = make_contact(
        owner=owner, first_name=name, last_name="Customer", lifecycle_stage=stage, **fields
    )
    for days_ago, amount in orders:
        make_order(contact=contact, ordered_at=at(days_ago), total=str(amount))
    return contact


def touch(contact, days_ago: float, *, kind: str = "call", actor=None, **fields):
    return log_interaction(
        actor=actor, kind=kind, contact=contact, occurred_at=at(days_ago), **fields
    )


def measure(key: str, *, as_of: dt.date | None = None, **context):
    """Measure one KPI live, as of today (or `as_of`)."""
    ctx = EvaluationContext(as_of=as_of or timezone.localdate(), **context)
    return evaluate(get_kpi(key), ctx)


def refresh_analytics(actor):
    from rapport.analytics import refresh

    run = refresh.request_refresh(actor=actor)
    run.refresh_from_db()
    if run.status == "queued":
        run = refresh.run_refresh(run_id=run.pk)
    return run


@pytest.fixture
def manager(db, sales_team):
    """A writer who sees every contact and deal: may manage the CRM models. Sees all of
    analytics too, so the objectives it sets may go to anyone (`access.owner_problem`)."""
    from rapport.accounts.tests.factories import RoleFactory, UserFactory

    role = RoleFactory(
        name="Sales manager", scopes={"contacts": "all", "sales": "all", "analytics": "all"}
    )
    return UserFactory(username="manager", role=role, teams=[sales_team])


@pytest.fixture
def reader(db, sales_team):
    """Sees everything but changes nothing."""
    from rapport.accounts.tests.factories import RoleFactory, UserFactory

    role = RoleFactory(
        name="Read-only manager",
        is_read_only=True,
        scopes={"contacts": "all", "sales": "all"},
    )
    return UserFactory(username="reader", role=role, teams=[sales_team])


@pytest.fixture
def pipeline(admin_user):
    from rapport.sales.services.pipelines import create_pipeline

    return create_pipeline(actor=admin_user, name="New business", currency="EUR")


@pytest.fixture
def stages(pipeline):
    return {stage.name: stage for stage in pipeline.stages.all()}


def deal(*, owner, pipeline, stage, created: dt.datetime, amount="1000.00", moves=(), **fields):
    """A deal created at `created` in `stage`, then moved: `moves` is [(stage, moment)]."""
    from rapport.sales.services.deals import create_deal, move_deal

    fields.setdefault("expected_close_date", timezone.localdate() + dt.timedelta(days=30))
    made = create_deal(
        actor=owner,
        owner=owner,
        name=fields.pop("name", "Deal"),
        pipeline=pipeline,
        stage=stage,
        amount=amount,
        at=created,
        **fields,
    )
    for target, moment in moves:
        move_deal(actor=owner, deal=made, stage=target, at=moment)
    made.refresh_from_db()
    return made
