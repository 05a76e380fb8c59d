"""The leads list and its selection: one filter (`sales.filters.filter_leads`) for the page and
for "select all that match", and the selection counted once at most."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact
from rapport.core import bulk
from rapport.sales.filters import filter_leads

pytestmark = pytest.mark.django_db


@pytest.fixture
def leads(owner, teammate):
    return {
        "mine": make_contact(actor=owner, owner=owner, first_name="Mia", lifecycle_stage="lead"),
        "theirs": make_contact(
            actor=owner, owner=teammate, first_name="Theo", lifecycle_stage="lead"
        ),
        "nobody's": make_contact(actor=owner, first_name="Nora", lifecycle_stage="subscriber"),
    }


def _ids(queryset) -> set[int]:
    return set(queryset.values_list("pk", flat=True))


def test_an_unknown_view_means_mine_on_the_page_and_for_select_all(owner, leads, web_client_for):
    page = web_client_for(owner).get("/sales/leads/?view=everyone").content.decode()
    selected = bulk.members_of_list(owner, "leads", {"view": ["everyone"]}, "leads")

    assert "Mia" in page and "Theo" not in page and "Nora" not in page
    assert _ids(selected) == {leads["mine"].pk}
    assert _ids(bulk.members_of_list(owner, "leads", {}, "leads")) == {leads["mine"].pk}


def test_the_views_and_filters_pick_the_same_leads_as_the_page(admin_user, leads, web_client_for):
    client = web_client_for(admin_user)
    for query, expected in (
        ({"view": ["all"]}, {"mine", "theirs", "nobody's"}),
        ({"view": ["unassigned"]}, {"nobody's"}),
        ({"view": ["all"], "stage": ["subscriber"]}, {"nobody's"}),
        ({"view": ["all"], "q": ["theo"]}, {"theirs"}),
        ({"view": ["mine"]}, set()),
    ):
        members = bulk.members_of_list(admin_user, "leads", query, "leads")
        assert _ids(members) == {leads[name].pk for name in expected}, query
        url = "/sales/leads/?" + "&".join(f"{k}={v[0]}" for k, v in query.items())
        html = client.get(url).content.decode()
        assert {name for name, lead in leads.items() if lead.first_name in html} == expected, query


def test_a_bad_filter_value_is_refused_by_name_rather_than_ignored(owner, leads, web_client_for):
    with pytest.raises(ValidationError) as refused:
        filter_leads(owner, {"view": ["all"], "stage": ["customer"], "min_score": ["lots"]})
    assert sorted(refused.value.message_dict) == ["min_score", "stage"]
    # "Select all" over a filter it cannot apply would take more than the list shows.
    with pytest.raises(ValidationError):
        bulk.start(
            actor=owner,
            entity_key="leads",
            action_key="set_lifecycle_stage",
            params={"stage": "sales_qualified"},
            list_key="leads",
            list_params={"view": ["all"], "source": ["carrier pigeon"]},
        )
    assert not Contact.objects.filter(lifecycle_stage="sales_qualified").exists()

    page = web_client_for(owner).get("/sales/leads/?view=all&min_score=lots").content.decode()
    assert "Score from: Give a whole number." in page
    assert "Mia" not in page and "Theo" not in page


def _counts(client, url, **headers) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as queries:
        html = client.get(url, **headers).content.decode()
    return html, sum("COUNT(" in query["sql"].upper() for query in queries.captured_queries)


def test_a_page_holding_every_lead_counts_nothing(admin_user, leads, web_client_for):
    html, counts = _counts(web_client_for(admin_user), "/sales/leads/?view=all")
    assert "Select all 3 leads that match" in html
    assert counts == 0
    fragment, counts = _counts(
        web_client_for(admin_user), "/sales/leads/?view=all&q=mia", HTTP_HX_REQUEST="true"
    )
    assert "Select all 1 leads that match" in fragment
    assert counts == 0


def test_a_longer_list_counts_its_selection_once_per_page(owner, web_client_for):
    Contact.objects.bulk_create(
        [Contact(first_name=f"L{i:02}", lifecycle_stage="lead", owner=owner) for i in range(55)]
    )
    client = web_client_for(owner)
    first, counts = _counts(client, "/sales/leads/")
    assert "Select all 55 leads that match" in first
    assert counts == 1
    cursor = client.get("/sales/leads/").context["page"].next_cursor
    second, counts = _counts(client, f"/sales/leads/?cursor={cursor}")
    assert "Select all 55 leads that match" in second
    assert counts == 1


def test_a_read_only_user_gets_no_bar_and_no_count(read_only_user, owner, web_client_for):
    Contact.objects.bulk_create(
        [Contact(first_name=f"L{i:02}", lifecycle_stage="lead", owner=owner) for i in range(55)]
    )
    html, counts = _counts(web_client_for(read_only_user), "/sales/leads/?view=all")
    assert "Next page" in html and "Select all" not in html
    assert counts == 0


def test_a_score_in_other_digits_is_refused_by_name_not_a_500(owner, leads, web_client_for):
    # "²" is a digit to str.isdigit() but not to int().
    with pytest.raises(ValidationError) as refused:
        filter_leads(owner, {"min_score": ["²"], "max_score": ["-³"]})
    assert sorted(refused.value.message_dict) == ["max_score", "min_score"]
    response = web_client_for(owner).get("/sales/leads/?min_score=%C2%B2")
    assert response.status_code == 200
    assert "Score from: Give a whole number." in response.content.decode()
