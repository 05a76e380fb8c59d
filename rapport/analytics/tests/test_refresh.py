import datetime as dt
import decimal

import numpy as np
import pytest
from django.utils import timezone

from rapport.analytics import refresh
from rapport.analytics.models import AnalyticsSnapshot, CustomerAnalytics, ModelFit, RefreshRun
from rapport.analytics.simulation import PurchaseProcess, simulate_history
from rapport.commerce.models import Order
from rapport.commerce.tests.factories import make_order
from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact
from rapport.core.display import money_text

pytestmark = pytest.mark.django_db

# name: (days since last order, orders, value of each order)
HISTORY = {
    "C1": (2, 6, "50.00"),
    "C2": (5, 1, "400.00"),
    "C3": (10, 4, "80.00"),
    "C4": (20, 4, "30.00"),
    "C5": (40, 2, "120.00"),
    "C6": (60, 3, "60.00"),
    "C7": (85, 1, "20.00"),
    "C8": (150, 5, "90.00"),
    "C9": (250, 2, "45.00"),
    "C10": (400, 1, "10.00"),
}
# Worked out by hand from the quintile rule (score = 1 + floor(5 * strictly worse / n)) and the
# segment map in rapport.analytics.metrics.rfm.
EXPECTED = {
    "C1": (5, 5, 3, 4, "Champions"),
    "C2": (5, 1, 5, 3, "Potential loyalist"),
    "C3": (4, 4, 4, 4, "Loyal"),
    "C4": (4, 4, 2, 3, "Potential loyalist"),
    "C5": (3, 2, 5, 4, "Loyal"),
    "C6": (3, 3, 3, 3, "Need attention"),
    "C7": (2, 1, 1, 1, "Hibernating"),
    "C8": (2, 5, 4, 5, "Can't lose them"),
    "C9": (1, 2, 2, 2, "Lost"),
    "C10": (1, 1, 1, 1, "Lost"),
}


def at_noon(days_ago: int) -> dt.datetime:
    day = timezone.localdate() - dt.timedelta(days=days_ago)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


@pytest.fixture
def hand_built(owner):
    contacts = {}
    for name, (recency, count, value) in HISTORY.items():
        contact = make_contact(owner=owner, first_name=name, last_name="Customer")
        contacts[name] = contact
        for k in range(count):
            make_order(contact=contact, ordered_at=at_noon(recency + 30 * k), total=value)
    other = contacts["C1"]
    # None of these may count: not revenue, another currency, or no contact.
    make_order(contact=other, ordered_at=at_noon(1), total="999.00", status="refunded")
    make_order(contact=other, ordered_at=at_noon(1), total="999.00", status="placed")
    make_order(contact=other, ordered_at=at_noon(1), total="999.00", currency="USD")
    return contacts


def run_now(actor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = refresh.request_refresh(actor=actor)
    run.refresh_from_db()
    return run


def test_refresh_on_hand_built_history(owner, hand_built, django_capture_on_commit_callbacks):
    run = run_now(owner, django_capture_on_commit_callbacks)
    assert run.status == "succeeded", run.message
    assert (run.n_customers, run.n_orders, run.progress) == (10, 29, 100)
    assert run.excluded == {}
    assert "Left out for want of an exchange rate: No USD rate on or before" in run.message
    assert f"(1 order, {money_text(999, 'USD')})" in run.message
    assert set(run.timings) == {"load", "fit", "score", "store"}
    rows = {
        row.contact.first_name: row for row in CustomerAnalytics.objects.select_related("contact")
    }
    assert set(rows) == set(HISTORY)
    for name, (r, f, m, fm, segment) in EXPECTED.items():
        row = rows[name]
        assert (row.r_score, row.f_score, row.m_score, row.fm_score, row.segment) == (
            r,
            f,
            m,
            fm,
            segment,
        ), name
    c1 = rows["C1"]
    assert c1.orders_count == 6
    assert c1.revenue_total == decimal.Decimal("300.00")
    assert c1.average_order_value == decimal.Decimal("50.00")
    assert c1.recency_days == 2
    assert c1.repeat_purchases == 5
    assert c1.last_order_date == timezone.localdate() - dt.timedelta(days=2)
    assert c1.first_order_date == timezone.localdate() - dt.timedelta(days=152)


def test_too_little_data_says_so_and_invents_nothing(
    owner, hand_built, django_capture_on_commit_callbacks
):
    run = run_now(owner, django_capture_on_commit_callbacks)
    fits = {fit.model: fit for fit in ModelFit.objects.filter(run=run)}
    assert fits["bg_nbd"].status == "insufficient_data"
    assert fits["bg_nbd"].reason == (
        "10 customers with orders; the purchase model needs at least 30."
    )
    assert fits["bg_nbd"].parameters == {} and fits["bg_nbd"].log_likelihood is None
    assert fits["gamma_gamma"].status == "insufficient_data"
    assert "CLV is empty and tiers use historical revenue" in run.message
    assert run.tier_basis == "revenue"
    assert not CustomerAnalytics.objects.exclude(p_alive=None).exists()
    assert not CustomerAnalytics.objects.exclude(predicted_clv=None).exists()
    assert not CustomerAnalytics.objects.exclude(expected_purchases=None).exists()
    tiers = dict(CustomerAnalytics.objects.values_list("contact__first_name", "value_tier"))
    # Top 20 % of 10 customers by revenue: C8 (450) and C2 (400); too few for gold/platinum.
    assert {name for name, tier in tiers.items() if tier == "silver"} == {"C8", "C2"}
    assert {tier for name, tier in tiers.items() if name not in {"C8", "C2"}} == {"bronze"}
    # Without P(alive), churn risk rests on the customer's own rhythm alone (30-day gaps,
    # overdue beyond three of them; one-time buyers measured against the median gap).
    at_risk = set(
        CustomerAnalytics.objects.filter(is_at_risk=True).values_list(
            "contact__first_name", flat=True
        )
    )
    assert at_risk == {"C8", "C9", "C10"}


def test_snapshots_and_rerun_same_day(owner, hand_built, django_capture_on_commit_callbacks):
    first = run_now(owner, django_capture_on_commit_callbacks)
    assert AnalyticsSnapshot.objects.filter(snapshot_date=first.as_of).count() == 10
    c7 = hand_built["C7"]
    make_order(contact=c7, ordered_at=at_noon(0), total="20.00")
    second = run_now(owner, django_capture_on_commit_callbacks)
    assert second.pk != first.pk
    assert AnalyticsSnapshot.objects.count() == 10
    assert CustomerAnalytics.objects.get(contact=c7).orders_count == 2
    snapshot = AnalyticsSnapshot.objects.get(contact=c7)
    assert (snapshot.orders_count, snapshot.run_id) == (2, second.pk)


def test_old_snapshots_thin_to_one_per_month(owner, hand_built, django_capture_on_commit_callbacks):
    run_now(owner, django_capture_on_commit_callbacks)
    contact = hand_built["C1"]
    today = timezone.localdate()
    for days in (100, 95, 70, 40, 10):
        AnalyticsSnapshot.objects.create(
            contact=contact,
            snapshot_date=today - dt.timedelta(days=days),
            orders_count=1,
            revenue_total=1,
            r_score=1,
            f_score=1,
            m_score=1,
            segment="Lost",
            value_tier="bronze",
        )
    run_now(owner, django_capture_on_commit_callbacks)
    kept = sorted(
        AnalyticsSnapshot.objects.filter(contact=contact).values_list("snapshot_date", flat=True)
    )
    old = [d for d in kept if d < today - dt.timedelta(days=35)]
    months = {(d.year, d.month) for d in old}
    assert len(old) == len(months)
    assert today - dt.timedelta(days=10) in kept and today in kept


def test_no_orders_is_insufficient_data(owner, django_capture_on_commit_callbacks):
    run = run_now(owner, django_capture_on_commit_callbacks)
    assert run.status == "insufficient_data"
    assert run.message.startswith("No paid or shipped orders in EUR")
    assert not CustomerAnalytics.objects.exists()


def test_one_refresh_at_a_time(owner, admin_user):
    first = refresh.request_refresh(actor=owner)
    second = refresh.request_refresh(actor=admin_user)
    assert first.pk == second.pk
    assert RefreshRun.objects.count() == 1


def test_running_the_same_run_twice_is_harmless(owner, hand_built):
    run = RefreshRun.objects.create(status="queued", trigger="on_demand")
    refresh.run_refresh(run_id=run.pk)
    finished = RefreshRun.objects.get(pk=run.pk).finished_at
    again = refresh.run_refresh(run_id=run.pk)
    assert again.finished_at == finished
    assert ModelFit.objects.filter(run=run).count() == 3


def test_models_fitted_on_simulated_history(owner, django_capture_on_commit_callbacks):
    """A history drawn from known parameters: the fitted models are used and stored."""
    rng = np.random.default_rng(7)
    today = timezone.localdate()
    end = (today - dt.date(1970, 1, 1)).days
    history = simulate_history(
        rng, 600, start_day=end - 720, end_day=end, process=PurchaseProcess(seasonal_amplitude=0)
    )
    contacts = Contact.objects.bulk_create(
        [Contact(first_name=f"S{i}", owner=owner) for i in range(600)]
    )
    Order.objects.bulk_create(
        [
            Order(
                contact=contacts[int(c)],
                ordered_at=at_noon(end - int(d)),
                status="paid",
                currency="EUR",
                total=decimal.Decimal(str(a)),
            )
            for c, d, a in zip(history.customer, history.day, history.amount, strict=True)
        ],
        batch_size=1000,
    )
    run = run_now(owner, django_capture_on_commit_callbacks)
    assert run.status == "succeeded", run.message
    assert run.tier_basis == "clv"
    fits = {fit.model: fit for fit in ModelFit.objects.filter(run=run)}
    assert fits["bg_nbd"].status == "fitted"
    assert set(fits["bg_nbd"].parameters) == {"r", "alpha", "a", "b", "time_unit"}
    assert fits["gamma_gamma"].status == "fitted"
    assert fits["bg_nbd_holdout"].status == "fitted"
    holdout = fits["bg_nbd_holdout"].diagnostics["holdout"]
    assert holdout["actual_total"] > 0 and holdout["predicted_total"] > 0
    rows = CustomerAnalytics.objects.all()
    assert rows.count() == 600
    assert not rows.filter(p_alive=None).exists()
    assert not rows.filter(predicted_clv=None).exists()
    assert rows.filter(value_tier="platinum").count() == 6
    assert run.portfolio["pareto"]["top_20_share"] > 0.2
    assert len(run.portfolio["rfm_grid"]["rows"]) == 5
    # One-time buyers have P(alive) exactly 1 in BG/NBD.
    assert set(rows.filter(repeat_purchases=0).values_list("p_alive", flat=True)) == {1.0}


def test_refresh_command(owner, hand_built):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("refresh_analytics", stdout=out)
    assert "Succeeded — 10 customers, 29 orders" in out.getvalue()
    out = io.StringIO()
    call_command("refresh_analytics", "--schedule", stdout=out)
    # The tests' immediate task backend cannot defer a task: it says so instead of pretending.
    assert "cannot run tasks later" in out.getvalue()


def test_nightly_scheduling_is_idempotent(monkeypatch, owner):
    import django_tasks

    enqueued = []
    monkeypatch.setattr(django_tasks.default_task_backend, "supports_defer", True, raising=False)
    monkeypatch.setattr(refresh, "_enqueue", lambda run, run_after=None: enqueued.append(run_after))
    first = refresh.schedule_nightly_refresh()
    second = refresh.schedule_nightly_refresh()
    assert first.pk == second.pk and first.status == "scheduled"
    assert first.scheduled_for > timezone.now()
    assert timezone.localtime(first.scheduled_for).hour == 2
