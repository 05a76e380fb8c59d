import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse

from rapport.audit.models import ChangeRecord
from rapport.audit.services import record_change
from rapport.core.context import work_context

pytestmark = pytest.mark.django_db

URL = "/audit/"


@pytest.fixture
def admin_client(admin_user, web_client_for):
    return web_client_for(admin_user)


def change(
    actor,
    *,
    entity="contacts.contact",
    object_id=1,
    action="update",
    before=None,
    after=None,
    at=None,
    request_id="",
    task_id="",
    repr_="Ada Lovelace",
):
    with work_context(request_id=request_id, task_id=task_id, source="test"):
        record = record_change(
            actor=actor,
            action=action,
            entity=entity,
            object_id=object_id,
            object_repr=repr_,
            before=before if before is not None else {},
            after=after if after is not None else {"n": object_id},
        )
    if at is not None:
        ChangeRecord.objects.filter(pk=record.pk).update(occurred_at=at)
    return record


def shown(response) -> list[int]:
    return [entry["record"].pk for entry in response.context["entries"]]


def test_only_administrators_see_the_audit_log(owner, web_client_for):
    assert reverse("audit:change_list") == URL
    assert web_client_for(owner).get(URL).status_code == 403
    anonymous = Client().get(URL)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("accounts:login"))


def test_newest_first_with_the_changed_fields_before_and_after(admin_client, owner):
    older = change(owner, before={"city": "Paris", "same": 1}, after={"city": "Lyon", "same": 1})
    newer = change(owner, action="create", after={"first_name": "Ada"})

    response = admin_client.get(URL)

    assert response.status_code == 200
    assert shown(response) == [newer.pk, older.pk]
    rows = {entry["record"].pk: entry["rows"] for entry in response.context["entries"]}
    assert rows[older.pk] == [
        {"field": "City", "before": "Paris", "after": "Lyon", "had_before": True, "has_after": True}
    ]
    assert rows[newer.pk][0]["had_before"] is False
    body = response.content.decode()
    assert re.search(r"<del>Paris</del>\s*→\s*<ins>Lyon</ins>", body)
    assert "same" not in body


def test_values_are_shown_as_short_text(admin_client, owner):
    change(
        owner,
        before={"tags": ["a"], "vip": False, "note": None},
        after={"tags": ["a", "b"], "vip": True, "note": "x" * 500},
    )

    rows = admin_client.get(URL).context["entries"][0]["rows"]

    by_field = {row["field"]: (row["before"], row["after"]) for row in rows}
    assert by_field["Tags"] == ("a", "a, b")
    assert by_field["Vip"] == ("No", "Yes")
    assert by_field["Note"][0] == "—"
    assert len(by_field["Note"][1]) == 200 and by_field["Note"][1].endswith("…")


def test_filter_by_actor_including_the_system(admin_client, owner, teammate):
    mine = change(owner)
    theirs = change(teammate)
    system = change(None)

    assert shown(admin_client.get(URL, {"actor": owner.pk})) == [mine.pk]
    assert shown(admin_client.get(URL, {"actor": teammate.pk})) == [theirs.pk]
    assert shown(admin_client.get(URL, {"actor": "system"})) == [system.pk]


def test_filter_by_entity_action_and_object(admin_client, owner):
    contact = change(owner, object_id=7)
    other_contact = change(owner, object_id=8)
    org = change(owner, entity="contacts.organization", object_id=7, action="archive")

    assert shown(admin_client.get(URL, {"entity": "contacts.organization"})) == [org.pk]
    assert shown(admin_client.get(URL, {"action": "archive"})) == [org.pk]
    assert shown(admin_client.get(URL, {"entity": "contacts.contact", "object_id": "7"})) == [
        contact.pk
    ]
    assert set(shown(admin_client.get(URL, {"entity": "contacts.contact"}))) == {
        contact.pk,
        other_contact.pk,
    }


def test_filter_by_request_or_task_id(admin_client, owner):
    first = change(owner, request_id="req-1")
    second = change(owner, request_id="req-1", object_id=2)
    change(owner, request_id="req-2")
    task = change(None, task_id="task-9")

    assert shown(admin_client.get(URL, {"request_id": "req-1"})) == [second.pk, first.pk]
    assert shown(admin_client.get(URL, {"request_id": "task-9"})) == [task.pk]


def test_filter_by_dates_in_the_readers_time_zone(admin_client, admin_user, owner):
    admin_user.time_zone = "America/New_York"  # UTC-5 in January
    admin_user.save()
    utc = dt.UTC
    late_on_the_9th = change(owner, at=dt.datetime(2024, 1, 10, 3, 0, tzinfo=utc))  # 22:00 on 9th
    on_the_10th = change(owner, at=dt.datetime(2024, 1, 10, 15, 0, tzinfo=utc))
    change(owner, at=dt.datetime(2024, 1, 11, 6, 0, tzinfo=utc))  # 01:00 on the 11th

    only_10th = admin_client.get(URL, {"date_from": "2024-01-10", "date_to": "2024-01-10"})
    until_9th = admin_client.get(URL, {"date_to": "2024-01-09"})

    assert shown(only_10th) == [on_the_10th.pk]
    assert shown(until_9th) == [late_on_the_9th.pk]


def test_invalid_filters_show_errors_and_no_rows(admin_client, owner):
    change(owner)

    response = admin_client.get(
        URL, {"date_from": "2024-02-01", "date_to": "2024-01-01", "action": "explode"}
    )

    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"date_to", "action"}
    assert shown(response) == []


def test_keyset_pages_walk_every_change_once(admin_client, owner):
    base = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    for n in range(60):
        change(owner, object_id=n, at=base + dt.timedelta(minutes=n))
    # Ten changes share one timestamp: the primary key keeps the order strict.
    for n in range(10):
        change(owner, object_id=100 + n, at=base)
    expected = list(
        ChangeRecord.objects.order_by("-occurred_at", "-id").values_list("pk", flat=True)
    )

    seen = []
    url = URL
    params = {"actor": owner.pk}
    while True:
        response = admin_client.get(url, params)
        seen.extend(shown(response))
        if not response.context["next_url"]:
            break
        url, params = URL + response.context["next_url"], None

    assert seen == expected
    assert len(seen) == len(set(seen)) == 70


def test_a_damaged_cursor_starts_again_from_the_newest(admin_client, owner):
    newest = change(owner)

    response = admin_client.get(URL, {"cursor": "not-a-cursor"})

    assert response.status_code == 200
    assert "start again" in response.context["cursor_error"]
    assert shown(response) == [newest.pk]


def test_the_log_keeps_a_query_budget(admin_client, owner, django_assert_max_num_queries):
    for n in range(50):
        change(owner, object_id=n)

    with django_assert_max_num_queries(6):
        response = admin_client.get(URL)

    assert len(response.context["entries"]) == 50


def test_htmx_gets_the_rows_only(admin_client, owner):
    change(owner)

    response = admin_client.get(URL, HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert body.lstrip().startswith('<div id="change-rows">')
    assert "HX-Request" in response["Vary"]


def test_recorded_text_is_shown_inert(admin_client, owner):
    change(
        owner,
        repr_="<script>alert(1)</script>",
        before={"name": "<img src=x onerror=alert(1)>"},
        after={"name": "<b>x</b>"},
    )

    body = admin_client.get(URL).content.decode()

    assert "<script>alert(1)</script>" not in body
    assert "<img src=x" not in body
    assert "<b>x</b>" not in body
    assert "&lt;script&gt;" in body


def test_changes_made_through_the_admin_pages_appear_with_their_request_id(admin_client):
    response = admin_client.post(
        reverse("accounts:team_create"),
        {"name": "Field Sales", "kind": "sales"},
        HTTP_X_REQUEST_ID="admin-req-42",
    )
    assert response.status_code == 302

    log = admin_client.get(URL, {"request_id": "admin-req-42"})

    [entry] = log.context["entries"]
    assert entry["record"].entity == "accounts.team"
    assert entry["record"].source == "web"


def test_a_row_names_the_record_type_in_words(admin_client, owner):
    change(owner, entity="contacts.contact", object_id=7)

    body = admin_client.get(URL).content.decode()

    assert "Contact · id 7" in body
    assert "contacts.contact #7" not in body
