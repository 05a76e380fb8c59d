"""The pages: list, editor, chart and table, drill-down, exports."""

import csv
import io
import json

import pytest
from django.urls import reverse

from rapport.contacts.tests.factories import make_contact
from rapport.reports import services
from rapport.reports.models import Report

pytestmark = pytest.mark.django_db


@pytest.fixture
def report(owner):
    return services.create_report(
        actor=owner, name="Contacts by stage", source="contacts", group_by="lifecycle_stage"
    )


def test_the_report_page_draws_labels_and_links_each_figure(
    owner, outsider, report, web_client_for
):
    lead = make_contact(owner=owner, lifecycle_stage="lead", first_name="Grace")
    make_contact(owner=outsider, lifecycle_stage="lead")
    response = web_client_for(owner).get(report.get_absolute_url())
    assert response.status_code == 200
    page = response.content.decode()
    assert "Lifecycle stage" in page and ">Lead<" in page
    chart = response.context["chart"]
    assert chart["labels"] == ["Lead"]
    assert chart["datasets"][0]["data"] == [1]
    drill = chart["datasets"][0]["urls"][0]
    assert drill == reverse("reports:records", args=[report.pk]) + "?g1=lead"
    assert 'id="report-chart-data"' in page and "<script>" not in page

    records = web_client_for(owner).get(drill)
    assert records.status_code == 200
    assert list(records.context["page"]) == [lead]
    assert records.context["narrowed"] == [{"field": "Lifecycle stage", "value": "Lead"}]


def test_a_bad_drill_down_parameter_is_a_400_naming_the_field(owner, web_client_for):
    report = services.create_report(
        actor=owner, name="New per month", source="contacts", group_by="created"
    )
    url = reverse("reports:records", args=[report.pk])
    response = web_client_for(owner).get(url, {"g1": "2026-13-45"})
    assert response.status_code == 400
    assert "Not a group of Created on" in response.content.decode()


@pytest.mark.parametrize(
    ("period", "last"), [("year", "9999-01-01"), ("month", "9999-12-01"), ("day", "9999-12-31")]
)
def test_a_drill_down_into_the_last_period_of_the_calendar_is_a_400(
    owner, web_client_for, period, last
):
    # The period after it would be in the year 10000, which no date can hold.
    report = services.create_report(
        actor=owner, name="New", source="contacts", group_by="created", group_period=period
    )
    response = web_client_for(owner).get(reverse("reports:records", args=[report.pk]), {"g1": last})
    assert response.status_code == 400
    assert "Not a group of Created on" in response.content.decode()


def test_an_outsider_cannot_open_edit_or_delete_a_report_not_shared_with_them(
    outsider, report, web_client_for
):
    client = web_client_for(outsider)
    for name in ("detail", "edit", "delete", "records", "export_csv"):
        assert client.get(reverse(f"reports:{name}", args=[report.pk])).status_code == 404
    assert client.post(reverse("reports:delete", args=[report.pk])).status_code == 404
    assert Report.objects.filter(pk=report.pk).exists()
    assert report.name not in client.get(reverse("reports:list")).content.decode()


def test_a_shared_report_opens_but_only_its_owner_edits_it(
    owner, outsider, other_team, report, web_client_for
):
    services.update_report(actor=owner, report=report, shared_teams=[other_team.pk])
    client = web_client_for(outsider)
    page = client.get(report.get_absolute_url())
    assert page.status_code == 200
    assert reverse("reports:edit", args=[report.pk]) not in page.content.decode()
    assert client.get(reverse("reports:edit", args=[report.pk])).status_code == 403
    listing = client.get(reverse("reports:list"))
    assert [r.pk for r in listing.context["shared"]] == [report.pk]


def test_create_through_the_form_and_errors_beside_the_fields(owner, web_client_for):
    client = web_client_for(owner)
    assert "Deals" in client.get(reverse("reports:create")).content.decode()
    url = reverse("reports:create") + "?source=deals"
    form = client.get(url)
    assert form.status_code == 200
    builder = form.context["form"]["conditions"].field.widget.fields()
    assert {"Deal name", "Stage", "Amount"} <= {entry["label"] for entry in builder}
    bad = client.post(
        url,
        {
            "source": "deals",
            "name": "Won by month",
            "group_by": "",
            "measure": "sum",
            "chart": "bar",
        },
    )
    assert bad.status_code == 422
    assert bad.context["form"].errors["group_by"]
    assert bad.context["form"].errors["measure_field"] == ["Choose the number to take the sum of."]
    good = client.post(
        url,
        {
            "source": "deals",
            "name": "Won by month",
            "conditions": json.dumps({"all": [{"field": "status", "op": "eq", "value": "won"}]}),
            "group_by": "closed",
            "group_period": "month",
            "measure": "sum",
            "measure_field": "amount",
            "chart": "line",
        },
    )
    report = Report.objects.get()
    assert good.status_code == 302 and good["Location"] == report.get_absolute_url()
    assert (report.source, report.group_by, report.measure_field) == ("deals", "closed", "amount")


def test_a_read_only_user_is_not_offered_and_cannot_create(read_only_user, web_client_for):
    client = web_client_for(read_only_user)
    assert "New report" not in client.get(reverse("reports:list")).content.decode()
    response = client.post(
        reverse("reports:create"),
        {
            "source": "contacts",
            "name": "X",
            "group_by": "source",
            "measure": "count",
            "chart": "bar",
        },
    )
    assert response.status_code == 403
    assert not Report.objects.exists()


def test_csv_export_neutralises_formulas(owner, admin_user, web_client_for):
    from rapport.customfields.services import create_definition

    create_definition(
        actor=admin_user, entity="contact", key="plan", label="=Plan", field_type="text"
    )
    make_contact(owner=owner, custom_fields={"plan": '=HYPERLINK("http://x")'})
    make_contact(owner=owner, custom_fields={"plan": "Gold"})
    report = services.create_report(
        actor=owner, name="Plans", source="contacts", group_by="custom.plan"
    )
    response = web_client_for(owner).get(reverse("reports:export_csv", args=[report.pk]))
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["'=Plan", "Number of contacts", "Records"]
    assert sorted(lines[1:]) == [['\'=HYPERLINK("http://x")', "1", "1"], ["Gold", "1", "1"]]


def test_xlsx_export(owner, report, web_client_for):
    from openpyxl import load_workbook

    make_contact(owner=owner, lifecycle_stage="customer")
    response = web_client_for(owner).get(reverse("reports:export_xlsx", args=[report.pk]))
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    assert [[cell.value for cell in row] for row in sheet.iter_rows()] == [
        ["Lifecycle stage", "Number of contacts", "Records"],
        ["Customer", 1, 1],
    ]


def test_deal_value_by_stage_and_owner_names_missing_rates(
    owner, teammate, admin_user, make_deal, web_client_for
):
    make_deal(owner=owner, amount="100.00", currency="EUR")
    make_deal(owner=teammate, amount="50.00", currency="EUR")
    make_deal(owner=owner, amount="9.00", currency="CHF")
    report = services.create_report(
        actor=owner,
        name="Open value",
        source="deals",
        group_by="stage",
        then_by="owner",
        measure="sum",
        measure_field="amount",
        chart="bar",
    )
    response = web_client_for(owner).get(report.get_absolute_url())
    assert response.status_code == 200
    page = response.content.decode()
    assert "No CHF rate on or before" in page
    table = response.context["table"]
    # Owners in the order of the owner menu (by username), each by their name.
    assert table["columns"] == [str(owner), str(teammate), "Total"]
    first = table["rows"][0]
    assert [cell["value"] for cell in first["cells"]][-1] == 150  # the stage's total, CHF left out
    assert response.context["chart"]["measure"] == "Sum of Amount (EUR)"
    assert len(response.context["chart"]["datasets"]) == 2


@pytest.mark.parametrize("source", ["contacts", "deals"])
def test_a_report_whose_condition_field_was_removed_says_so_instead_of_crashing(
    owner, admin_user, web_client_for, api_client_for, source
):
    from rapport.customfields.models import CustomFieldDefinition
    from rapport.customfields.services import create_definition

    create_definition(
        actor=admin_user, entity=source[:-1], key="plan", label="Plan", field_type="text"
    )
    report = services.create_report(
        actor=owner,
        name="Gold plans",
        source=source,
        group_by="created",
        conditions={"all": [{"field": "custom.plan", "op": "eq", "value": "Gold"}]},
    )
    CustomFieldDefinition.objects.filter(key="plan").update(is_active=False)
    client = web_client_for(owner)
    page = client.get(report.get_absolute_url())
    assert page.status_code == 422
    assert "This report cannot run: Condition 1, field:" in page.content.decode()
    assert client.get(reverse("reports:records", args=[report.pk])).status_code == 400
    for name in ("export_csv", "export_xlsx"):
        exported = client.get(reverse(f"reports:{name}", args=[report.pk]))
        assert exported.status_code == 302 and exported["Location"] == report.get_absolute_url()
    results = api_client_for(owner).get(f"/api/v1/reports/{report.pk}/results")
    assert results.status_code == 422
    assert results.json()["errors"][0]["field"] == "body.conditions.all[0].field"
