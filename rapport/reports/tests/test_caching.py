"""Report figures come from the cache until a write changes what they count."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rapport.commerce.tests.factories import make_product
from rapport.reports import caching, dashboards, services
from rapport.reports.models import Dashboard
from rapport.sales.models import Deal

pytestmark = pytest.mark.django_db

OPEN = {"all": [{"field": "status", "op": "eq", "value": "open"}]}


@pytest.fixture(autouse=True)
def empty_cache():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def pipeline_report(owner):
    return services.create_report(
        actor=owner,
        name="Open pipeline",
        source="deals",
        conditions=OPEN,
        group_by="stage",
        measure="sum",
        measure_field="amount",
    )


def test_a_second_run_is_served_from_the_cache_and_a_new_deal_changes_it(
    pipeline_report, owner, make_deal, django_assert_num_queries
):
    make_deal(owner=owner, amount="1000.00")
    first = caching.run_report(pipeline_report, owner)
    assert first.total == Decimal("1000.00")
    with django_assert_num_queries(0):
        again = caching.run_report(pipeline_report, owner)
    assert again.total == Decimal("1000.00")
    assert again.measure_label == "Sum of Amount"

    make_deal(owner=owner, name="Second deal", amount="250.00")
    assert caching.run_report(pipeline_report, owner).total == Decimal("1250.00")


def test_a_bulk_update_without_signals_still_changes_the_figures(pipeline_report, owner, make_deal):
    deal = make_deal(owner=owner, amount="1000.00")
    assert caching.run_report(pipeline_report, owner).total == Decimal("1000.00")
    Deal.objects.filter(pk=deal.pk).update(amount=Decimal("10.00"))
    assert caching.run_report(pipeline_report, owner).total == Decimal("10.00")


def test_writes_to_records_the_source_does_not_read_keep_the_figures(
    pipeline_report, owner, admin_user, make_deal, django_assert_num_queries
):
    make_deal(owner=owner, amount="1000.00")
    caching.run_report(pipeline_report, owner)
    make_product(actor=admin_user, sku="BK-1")  # orders' data: no deal figure depends on it
    with django_assert_num_queries(0):
        caching.run_report(pipeline_report, owner)


def test_each_scope_has_its_own_figures(pipeline_report, owner, outsider, make_deal):
    pipeline_report.shared_roles.add(outsider.role)
    make_deal(owner=owner, amount="1000.00")
    assert caching.run_report(pipeline_report, owner).total == Decimal("1000.00")
    assert caching.run_report(pipeline_report, outsider).total == Decimal("0.00")


def test_a_write_changes_the_token_when_it_commits(
    pipeline_report, owner, make_deal, django_capture_on_commit_callbacks
):
    before = caching.versions(["deals"])
    key = caching.result_key(pipeline_report, owner)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        make_deal(owner=owner, amount="1000.00")
        make_deal(owner=owner, name="Second deal", amount="5.00")
        # Not committed: other connections keep their figures; this one, which sees the new
        # deals, keys its own by what it wrote.
        assert caching.versions(["deals"]) == before
        assert caching.result_key(pipeline_report, owner) != key
    assert caching.versions(["deals"]) != before
    assert len([c for c in callbacks if "deals" in getattr(c, "report_areas", ())]) == 1


def test_signing_in_changes_no_figure(client, pipeline_report, owner, make_deal):
    make_deal(owner=owner, amount="1000.00")
    before = caching.result_key(pipeline_report, owner)
    client.force_login(owner)  # writes the user's last_login
    assert caching.result_key(pipeline_report, owner) == before
    owner.first_name = "Renamed"  # a name labels figures: that write counts
    owner.save()
    assert caching.result_key(pipeline_report, owner) != before


def test_the_dashboard_widget_runs_its_report_once(client, owner, pipeline_report, make_deal):
    make_deal(owner=owner, amount="1000.00")
    dashboard = dashboards.create_dashboard(actor=owner, name="Mine")
    widget = dashboards.add_widget(
        actor=owner, dashboard=dashboard, kind="report", report=pipeline_report
    )
    url = reverse("reports:dashboard_widget", args=[dashboard.pk, widget.pk])
    client.force_login(owner)

    def deal_queries():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200
        return [q["sql"] for q in captured.captured_queries if "GROUP BY" in q["sql"]]

    assert deal_queries()
    assert deal_queries() == []
    make_deal(owner=owner, name="Another", amount="5.00")
    assert deal_queries()
    assert Dashboard.objects.filter(pk=dashboard.pk).exists()


def test_an_import_finishing_counts_as_a_write_everywhere(django_capture_on_commit_callbacks):
    from rapport.core.events import emit
    from rapport.data_exchange.events import ImportFinished

    # An import writes its rows with COPY, which no connection wrapper sees: its event does.
    before = caching.versions(caching.AREAS)
    with django_capture_on_commit_callbacks(execute=True):
        emit(
            ImportFinished(
                import_id=1, entity="contact", created=5, updated=0, errors=0, actor_id=None
            )
        )
    after = caching.versions(caching.AREAS)
    assert all(old != new for old, new in zip(before, after, strict=True))


@pytest.mark.django_db(transaction=True)
def test_a_held_batch_changes_the_tokens_when_it_ends(pipeline_report, owner, make_deal):
    before = caching.versions(["deals"])
    key = caching.result_key(pipeline_report, owner)
    with caching.held():
        make_deal(owner=owner, amount="1000.00")  # committed at once: no outer transaction
        make_deal(owner=owner, name="Second deal", amount="5.00")
        # The batch's writes replace no token yet, but this connection's own figures count
        # them.
        assert caching.versions(["deals"]) == before
        assert caching.result_key(pipeline_report, owner) != key
        assert caching.run_report(pipeline_report, owner).total == Decimal("1005.00")
    assert caching.versions(["deals"]) != before
    assert caching.run_report(pipeline_report, owner).total == Decimal("1005.00")
