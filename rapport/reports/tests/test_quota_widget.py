"""The quota widgets: "Quota attainment" on the sales manager's dashboard and "My quota" on the
rep's: won against quota this month and this quarter, missing rates named once, and without
quotas an honest empty state that links to where they are set."""

from decimal import Decimal

import pytest
from django.utils import timezone

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.core.display import money_text
from rapport.reports import dashboard_lists
from rapport.reports.builtin_dashboards import ensure_builtin_dashboards
from rapport.reports.dashboard_views import widget_context
from rapport.reports.models import Dashboard
from rapport.sales import quota_periods, quotas

pytestmark = pytest.mark.django_db


@pytest.fixture
def rep(sales_team):
    role = RoleFactory(name="Sales rep", scopes={"contacts": "own", "sales": "own"})
    return UserFactory(
        username="rep", first_name="Ray", last_name="Rep", role=role, teams=[sales_team]
    )


@pytest.fixture
def other_rep(rep, sales_team):
    return UserFactory(
        username="other", first_name="Olga", last_name="Other", role=rep.role, teams=[sales_team]
    )


def set_quotas(admin_user, user, *, month: str, quarter: str):
    today = timezone.localdate()
    for amount, (start, end) in (
        (month, quota_periods.month_bounds(today)),
        (quarter, quota_periods.quarter_bounds(today)),
    ):
        quotas.set_quota(
            actor=admin_user, user=user, amount=amount, period_start=start, period_end=end
        )


def win_today(make_deal, pipeline, owner, amount, currency="EUR"):
    won = pipeline.stages.get(kind="won")
    return make_deal(
        owner=owner,
        amount=amount,
        currency=currency,
        stage=won,
        expected_close_date=timezone.localdate(),
    )


def test_without_quotas_the_widgets_say_so_and_link_to_where_they_are_set(admin_user, rep):
    for user, label in ((admin_user, "Set quotas"), (rep, "Quotas")):
        listing = dashboard_lists.LISTS["quota_attainment"].build(user)
        assert listing.rows == []
        assert listing.summary == ""
        assert listing.empty == "No quotas are set for this month or this quarter."
        assert listing.link == (label, "/sales/quotas/")
    mine = dashboard_lists.LISTS["my_quota"].build(rep)
    assert (mine.rows, mine.empty) == ([], "No quota is set for you this month or this quarter.")


def test_the_empty_widget_renders_on_the_managers_dashboard(admin_user, web_client_for):
    ensure_builtin_dashboards()
    manager = Dashboard.objects.get(key="manager")
    widget = manager.widgets.get(list_key="quota_attainment")

    response = web_client_for(admin_user).get(
        f"/reports/dashboards/{manager.pk}/widgets/{widget.pk}/"
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "No quotas are set for this month or this quarter." in html
    assert '<a href="/sales/quotas/">Set quotas</a>' in html
    assert "%" not in html


def test_attainment_per_rep_with_the_total_and_a_missing_rate_named_once(
    admin_user, rep, other_rep, make_deal, pipeline
):
    set_quotas(admin_user, rep, month="2000", quarter="5000")
    set_quotas(admin_user, other_rep, month="1000", quarter="1000")
    win_today(make_deal, pipeline, rep, "500.00")
    win_today(make_deal, pipeline, rep, "100.00", currency="USD")  # no USD rate anywhere
    today = timezone.localdate()
    month = quota_periods.label(*quota_periods.month_bounds(today))
    quarter = quota_periods.label(*quota_periods.quarter_bounds(today))

    listing = dashboard_lists.LISTS["quota_attainment"].build(admin_user)

    assert [(row.label, row.figure) for row in listing.rows] == [
        ("Olga Other", "0.0 %"),
        ("Ray Rep", "25.0 %"),
        ("Olga Other", "0.0 %"),
        ("Ray Rep", "10.0 %"),
    ]
    won = money_text(500, "EUR")
    assert listing.rows[1].detail == (
        f"{month}: {won} won of {money_text(2000, 'EUR')} · forecast {won}"
    )
    assert listing.rows[3].detail.startswith(f"{quarter}: {won} won of {money_text(5000, 'EUR')}")
    assert listing.summary == (
        f"This month: 16.7 % of {money_text(3000, 'EUR')} · "
        f"This quarter: 8.3 % of {money_text(6000, 'EUR')}"
    )
    # The dollar deal is in this month's and this quarter's figures: named once.
    [gap] = listing.missing
    assert (gap.currency, gap.count, gap.amount) == ("USD", 1, Decimal("100.00"))


def test_a_rep_sees_only_their_own_quota(admin_user, rep, other_rep, make_deal, pipeline):
    set_quotas(admin_user, rep, month="1000", quarter="4000")
    set_quotas(admin_user, other_rep, month="1000", quarter="1000")
    win_today(make_deal, pipeline, rep, "250.00")
    win_today(make_deal, pipeline, other_rep, "999.00")

    mine = widget_context(_widget("rep", "my_quota"), rep)["listing"]
    team = dashboard_lists.LISTS["quota_attainment"].build(rep)

    assert [(row.label, row.figure) for row in mine.rows] == [
        ("This month", "25.0 %"),
        ("This quarter", "6.2 %"),
    ]
    assert [row.label for row in team.rows] == ["Ray Rep", "Ray Rep"]
    assert mine.link == ("Quotas", "/sales/quotas/")


def test_the_built_in_dashboards_carry_the_quota_widgets():
    ensure_builtin_dashboards()
    manager = Dashboard.objects.get(key="manager")
    rep = Dashboard.objects.get(key="rep")
    assert manager.widgets.filter(kind="list", list_key="quota_attainment").exists()
    assert rep.widgets.filter(kind="list", list_key="my_quota").exists()


def _widget(key: str, list_key: str):
    ensure_builtin_dashboards()
    return Dashboard.objects.get(key=key).widgets.get(list_key=list_key)


def test_builtin_dashboards_made_before_quotas_get_their_quota_widget():
    import importlib

    from django.apps import apps

    from rapport.reports.models import Widget

    migration = importlib.import_module(
        "rapport.reports.migrations.0005_quota_widgets_on_builtin_dashboards"
    )
    ensure_builtin_dashboards()
    manager = Dashboard.objects.get(key="manager")
    Widget.objects.filter(list_key__in=["quota_attainment", "my_quota"]).delete()
    before = list(manager.widgets.values_list("list_key", "kpi", "position"))

    migration.add_quota_widgets(apps, None)
    migration.add_quota_widgets(apps, None)  # run twice: still one each

    layout = list(manager.widgets.order_by("position").values_list("list_key", flat=True))
    assert layout[2] == "quota_attainment" and layout.count("quota_attainment") == 1
    assert len(layout) == len(before) + 1
    rep_layout = Dashboard.objects.get(key="rep").widgets.order_by("position")
    assert rep_layout.first().list_key == "my_quota"
    assert rep_layout.filter(list_key="my_quota").count() == 1
