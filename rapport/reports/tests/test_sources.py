"""Orders, tasks and interactions as report sources: scoped like their own lists, labelled,
money in the company currency."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from rapport.commerce.rates import add_rate
from rapport.commerce.tests.factories import make_order
from rapport.contacts.tests.factories import make_contact
from rapport.interactions.services import log_interaction
from rapport.reports import services
from rapport.sales.services.work import create_task

pytestmark = pytest.mark.django_db


def figures(result):
    axis = result.axes[0]
    return {axis.label_of(row): result.value(row) for row in result.table.rows}


def noon(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def test_order_revenue_by_month_in_the_company_currency(owner, outsider, admin_user):
    add_rate(actor=admin_user, currency="USD", rate="0.8", valid_on=dt.date(2026, 1, 1))
    mine = make_contact(owner=owner)
    theirs = make_contact(owner=outsider)
    make_order(contact=mine, total="50.00", ordered_at=noon(dt.date(2026, 2, 3)))
    make_order(contact=mine, total="100.00", currency="USD", ordered_at=noon(dt.date(2026, 2, 20)))
    make_order(contact=mine, total="10.00", ordered_at=noon(dt.date(2026, 4, 1)))
    make_order(contact=theirs, total="999.00", ordered_at=noon(dt.date(2026, 2, 5)))
    report = services.create_report(
        actor=owner,
        name="Revenue",
        source="orders",
        group_by="ordered",
        group_period="month",
        measure="sum",
        measure_field="total",
        chart="area",
    )
    result = services.run_report(report, owner)
    assert figures(result) == {
        "Feb 2026": Decimal("130.00"),  # 50 EUR + 100 USD at 0.8; the outsider's order not seen
        "Mar 2026": Decimal("0.00"),
        "Apr 2026": Decimal("10.00"),
    }
    assert result.missing == []


def test_tasks_by_status_count_what_the_rep_may_see(owner, outsider):
    due = timezone.now() + dt.timedelta(days=1)
    create_task(actor=owner, title="Call Ada", due_at=due, assignee=owner)
    create_task(actor=owner, title="Send deck", due_at=due, assignee=owner, priority="high")
    create_task(actor=outsider, title="Theirs", due_at=due, assignee=outsider)
    report = services.create_report(
        actor=owner, name="Tasks", source="tasks", group_by="status", then_by="priority"
    )
    result = services.run_report(report, owner)
    assert [(result.axes[0].label_of(r), result.row_total(r)) for r in result.table.rows] == [
        ("Open", 2)
    ]
    assert [result.axes[1].label_of(c) for c in result.table.columns] == ["Normal", "High"]
    behind = services.records_behind(report, owner, {"g1": "open", "g2": "high"})
    assert [task.title for task in behind] == ["Send deck"]


def test_interaction_duration_averaged_by_channel(owner):
    contact = make_contact(owner=owner)
    log_interaction(actor=owner, kind="call", contact=contact, channel="phone", duration_minutes=10)
    log_interaction(actor=owner, kind="call", contact=contact, channel="phone", duration_minutes=25)
    log_interaction(actor=owner, kind="note", contact=contact, body="Met.")
    report = services.create_report(
        actor=owner,
        name="Call length",
        source="interactions",
        group_by="channel",
        measure="average",
        measure_field="duration_minutes",
        chart="donut",
    )
    result = services.run_report(report, owner)
    values = figures(result)
    assert values["Phone"] == Decimal("17.50")
    assert result.measure_label == "Average of Duration (minutes)"


def test_leads_are_contacts_in_the_lead_stages(owner):
    make_contact(owner=owner, lifecycle_stage="lead", source="web_form")
    make_contact(owner=owner, lifecycle_stage="subscriber", source="web_form")
    make_contact(owner=owner, lifecycle_stage="customer", source="web_form")
    report = services.create_report(actor=owner, name="Leads", source="leads", group_by="source")
    assert figures(services.run_report(report, owner)) == {"Web form": 2}


def test_the_records_behind_an_interaction_figure_open_its_contact(owner, web_client_for):
    from django.urls import reverse

    contact = make_contact(owner=owner, first_name="Grace")
    log_interaction(actor=owner, kind="note", contact=contact, subject="Met at the fair")
    report = services.create_report(
        actor=owner, name="Touches", source="interactions", group_by="kind"
    )
    response = web_client_for(owner).get(
        reverse("reports:records", args=[report.pk]), {"g1": "note"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Met at the fair" in page and contact.get_absolute_url() in page
    assert "Logged by" in page


def test_a_record_matching_through_two_tags_counts_once(owner):
    make_contact(owner=owner, first_name="Ada", tags=["vip", "press"])
    make_contact(owner=owner, first_name="Bob", tags=["press"])
    make_contact(owner=owner, first_name="Cyd")
    report = services.create_report(
        actor=owner,
        name="Tagged",
        source="contacts",
        group_by="lifecycle_stage",
        conditions={"all": [{"field": "tags", "op": "in", "value": ["vip", "press"]}]},
    )
    assert services.run_report(report, owner).total == 2


def test_choice_conditions_still_ignore_case(owner):
    mine = make_contact(owner=owner)
    make_order(contact=mine, total="50.00", status="paid")
    make_order(contact=mine, total="7.00", status="refunded")
    report = services.create_report(
        actor=owner,
        name="Paid",
        source="orders",
        group_by="status",
        conditions={"all": [{"field": "status", "op": "in", "value": ["PAID", "Shipped"]}]},
    )
    assert services.run_report(report, owner).total == 1
    report.conditions = {"all": [{"field": "status", "op": "ne", "value": "Paid"}]}
    assert services.run_report(report, owner).total == 1
