"""The dashboards API: list, create, read with widgets, change, delete; widgets added, resized,
moved and removed; and nobody reaches a dashboard they may not see or change."""

import json

import pytest

from rapport.audit.models import ChangeRecord
from rapport.reports import dashboards, services
from rapport.reports.models import Dashboard, Widget

pytestmark = pytest.mark.django_db


def send(client, method, url, body=None):
    return getattr(client, method)(
        url, data=json.dumps(body or {}), content_type="application/json"
    )


@pytest.fixture
def report(owner):
    return services.create_report(
        actor=owner, name="By source", source="contacts", group_by="source"
    )


def test_create_read_change_and_delete_a_dashboard(owner, other_team, api_client_for):
    client = api_client_for(owner)
    created = send(client, "post", "/api/v1/dashboards", {"name": "Mine"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["owner_id"], body["widgets"], body["may_change"]) == (
        "Mine", owner.pk, [], True
    )  # fmt: skip
    dashboard_id = body["id"]
    listed = client.get("/api/v1/dashboards").json()
    assert "Mine" in [d["name"] for d in listed]
    # The built-ins are listed too, and the owner may not change them.
    builtin = next(d for d in listed if d["is_builtin"])
    assert builtin["may_change"] is False
    patched = send(
        client, "patch", f"/api/v1/dashboards/{dashboard_id}", {"shared_teams": [other_team.pk]}
    )
    assert patched.status_code == 200, patched.content
    assert (patched.json()["name"], patched.json()["shared_teams"]) == ("Mine", [other_team.pk])
    renamed = send(client, "patch", f"/api/v1/dashboards/{dashboard_id}", {"name": "Ours"})
    assert (renamed.json()["name"], renamed.json()["shared_teams"]) == ("Ours", [other_team.pk])
    assert client.delete(f"/api/v1/dashboards/{dashboard_id}").status_code == 204
    assert not Dashboard.objects.filter(pk=dashboard_id).exists()


def test_widgets_are_added_resized_moved_and_removed(owner, report, api_client_for):
    client = api_client_for(owner)
    dashboard = dashboards.create_dashboard(actor=owner, name="Mine")
    url = f"/api/v1/dashboards/{dashboard.pk}/widgets"
    first = send(client, "post", url, {"kind": "report", "report_id": report.pk, "span": 6})
    assert first.status_code == 201, first.content
    assert (first.json()["title"], first.json()["position"]) == ("By source", 0)
    second = send(client, "post", url, {"kind": "list", "list_key": "my_open_tasks"})
    assert second.status_code == 201, second.content
    kpi = send(client, "post", url, {"kind": "kpi", "kpi": "win_rate", "span": 3})
    assert kpi.status_code == 201, kpi.content

    moved = send(client, "patch", f"{url}/{kpi.json()['id']}", {"position": 0, "span": 12})
    assert moved.status_code == 200, moved.content
    assert (moved.json()["position"], moved.json()["span"]) == (0, 12)
    detail = client.get(f"/api/v1/dashboards/{dashboard.pk}").json()
    assert [w["kind"] for w in detail["widgets"]] == ["kpi", "report", "list"]

    assert client.delete(f"{url}/{second.json()['id']}").status_code == 204
    assert [w["kind"] for w in client.get(url).json()] == ["kpi", "report"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "chart"}, "kind"),
        ({"kind": "list", "list_key": "nope"}, "list_key"),
        ({"kind": "kpi", "kpi": "nope"}, "kpi"),
        ({"kind": "report", "report_id": 999999}, "report_id"),
        ({"kind": "list", "list_key": "my_open_tasks", "span": 5}, "span"),
    ],
)
def test_a_bad_widget_is_a_field_error(owner, api_client_for, body, field):
    dashboard = dashboards.create_dashboard(actor=owner, name="Mine")
    response = send(
        api_client_for(owner), "post", f"/api/v1/dashboards/{dashboard.pk}/widgets", body
    )
    assert response.status_code == 422, response.content
    assert field in {error["field"].split(".")[-1] for error in response.json()["errors"]}
    assert not Widget.objects.exists()


def test_a_report_of_another_user_cannot_be_put_on_a_dashboard(owner, outsider, api_client_for):
    theirs = services.create_report(
        actor=outsider, name="Theirs", source="contacts", group_by="source"
    )
    dashboard = dashboards.create_dashboard(actor=owner, name="Mine")
    response = send(
        api_client_for(owner),
        "post",
        f"/api/v1/dashboards/{dashboard.pk}/widgets",
        {"kind": "report", "report_id": theirs.pk},
    )
    assert response.status_code == 422
    assert not Widget.objects.exists()


def test_another_users_dashboard_is_404_and_nothing_changes(owner, outsider, api_client_for):
    dashboard = dashboards.create_dashboard(actor=owner, name="Mine")
    widget = dashboards.add_widget(actor=owner, dashboard=dashboard, kind="kpi", kpi="win_rate")
    client = api_client_for(outsider)
    assert "Mine" not in [d["name"] for d in client.get("/api/v1/dashboards").json()]
    before = ChangeRecord.objects.count()
    base = f"/api/v1/dashboards/{dashboard.pk}"
    assert client.get(base).status_code == 404
    assert client.get(f"{base}/widgets").status_code == 404
    assert send(client, "patch", base, {"name": "Taken"}).status_code == 404
    assert client.delete(base).status_code == 404
    assert (
        send(client, "post", f"{base}/widgets", {"kind": "kpi", "kpi": "win_rate"}).status_code
        == 404
    )
    assert send(client, "patch", f"{base}/widgets/{widget.pk}", {"span": 12}).status_code == 404
    assert client.delete(f"{base}/widgets/{widget.pk}").status_code == 404
    assert ChangeRecord.objects.count() == before
    assert Dashboard.objects.get(pk=dashboard.pk).name == "Mine"
    assert Widget.objects.get(pk=widget.pk).span == widget.span


def test_a_shared_dashboard_is_read_only_for_whom_it_is_shared_with(
    owner, outsider, other_team, api_client_for
):
    dashboard = dashboards.create_dashboard(actor=owner, name="Mine", shared_teams=[other_team])
    widget = dashboards.add_widget(actor=owner, dashboard=dashboard, kind="kpi", kpi="win_rate")
    client = api_client_for(outsider)
    base = f"/api/v1/dashboards/{dashboard.pk}"
    read = client.get(base)
    assert read.status_code == 200
    assert read.json()["may_change"] is False
    assert send(client, "patch", base, {"name": "Taken"}).status_code == 403
    assert client.delete(base).status_code == 403
    assert send(client, "patch", f"{base}/widgets/{widget.pk}", {"span": 12}).status_code == 403
    assert client.delete(f"{base}/widgets/{widget.pk}").status_code == 403
    assert Dashboard.objects.get(pk=dashboard.pk).name == "Mine"
    assert Widget.objects.get(pk=widget.pk).span == widget.span


def test_only_administrators_change_a_built_in_or_make_it_home(owner, admin_user, api_client_for):
    client = api_client_for(owner)
    builtin = next(d for d in client.get("/api/v1/dashboards").json() if d["is_builtin"])
    url = f"/api/v1/dashboards/{builtin['id']}"
    assert send(client, "patch", url, {"name": "Mine now"}).status_code == 403
    assert client.delete(url).status_code == 403
    role = owner.role_id
    assert send(client, "patch", url, {"default_for_roles": [role]}).status_code == 403
    made_home = send(api_client_for(admin_user), "patch", url, {"default_for_roles": [role]})
    assert made_home.status_code == 200, made_home.content
    assert made_home.json()["default_for_roles"] == [role]
    # A built-in cannot be deleted, even by an administrator.
    assert api_client_for(admin_user).delete(url).status_code == 403


def test_a_read_only_user_cannot_create_a_dashboard(read_only_user, api_client_for):
    response = send(api_client_for(read_only_user), "post", "/api/v1/dashboards", {"name": "Mine"})
    assert response.status_code == 403
    assert not Dashboard.objects.filter(owner=read_only_user).exists()


def test_a_bad_name_is_a_field_error(owner, api_client_for):
    client = api_client_for(owner)
    assert send(client, "post", "/api/v1/dashboards", {"name": "  "}).status_code == 422
    dashboard = dashboards.create_dashboard(actor=owner, name="Mine")
    response = send(client, "patch", f"/api/v1/dashboards/{dashboard.pk}", {"name": ""})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].endswith("name")
