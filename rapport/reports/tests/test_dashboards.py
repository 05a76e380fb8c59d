"""Dashboards: who opens and changes one, what each widget counts for its viewer, the built-ins,
and the dashboard on Home."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.audit.models import ChangeRecord
from rapport.contacts.tests.factories import make_contact
from rapport.reports import dashboards, services
from rapport.reports.builtin_dashboards import BUILTINS, ensure_builtin_dashboards
from rapport.reports.dashboard_views import widget_context
from rapport.reports.models import Dashboard, Widget
from rapport.sales.services.work import create_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def rep_role(db):
    return RoleFactory(name="Sales rep", scopes={"contacts": "own", "sales": "own"})


@pytest.fixture
def rep(rep_role, sales_team):
    return UserFactory(username="rep", role=rep_role, teams=[sales_team])


@pytest.fixture
def other_rep(rep_role, sales_team):
    return UserFactory(username="other_rep", role=rep_role, teams=[sales_team])


@pytest.fixture
def board(owner):
    return dashboards.create_dashboard(actor=owner, name="My board")


def _widget_url(widget):
    return reverse("reports:dashboard_widget", args=[widget.dashboard_id, widget.pk])


# --------------------------------------------------------------------------- access


def test_a_dashboard_not_shared_is_404_for_everything(outsider, board, web_client_for):
    widget = dashboards.add_widget(
        actor=board.owner, dashboard=board, kind="list", list_key="my_open_tasks"
    )
    client = web_client_for(outsider)
    assert client.get(board.get_absolute_url()).status_code == 404
    assert client.get(_widget_url(widget)).status_code == 404
    remove = reverse("reports:dashboard_widget_remove", args=[board.pk, widget.pk])
    assert client.post(remove).status_code == 404
    assert Widget.objects.filter(pk=widget.pk).exists()
    assert board.name not in client.get(reverse("reports:dashboard_list")).content.decode()


def test_a_shared_dashboard_is_read_only_for_others(
    owner, outsider, other_team, board, web_client_for
):
    widget = dashboards.add_widget(actor=owner, dashboard=board, kind="kpi", kpi="win_rate", span=3)
    dashboards.update_dashboard(
        actor=owner, dashboard=board, name="Team board", shared_teams=[other_team]
    )
    client = web_client_for(outsider)
    page = client.get(board.get_absolute_url())
    assert page.status_code == 200
    assert page.context["may_change"] is False
    assert "Add a widget" not in page.content.decode()
    resize = reverse("reports:dashboard_widget_resize", args=[board.pk, widget.pk])
    assert client.post(resize, {"span": "12"}).status_code == 403
    add = reverse("reports:dashboard_widget_add", args=[board.pk])
    assert (
        client.post(add, {"kind": "list", "list_key": "my_open_tasks", "span": "6"}).status_code
        == 403
    )
    widget.refresh_from_db()
    assert widget.span == 3
    assert board.widgets.count() == 1


def test_a_read_only_user_cannot_create_a_dashboard(read_only_user):
    with pytest.raises(PermissionDenied):
        dashboards.create_dashboard(actor=read_only_user, name="Mine")
    assert not Dashboard.objects.filter(name="Mine").exists()


def test_only_administrators_change_a_built_in(owner, admin_user):
    ensure_builtin_dashboards()
    manager = Dashboard.objects.get(key="manager")
    widget = manager.widgets.first()
    with pytest.raises(PermissionDenied):
        dashboards.resize_widget(actor=owner, widget=widget, span=12)
    with pytest.raises(PermissionDenied):
        dashboards.delete_dashboard(actor=admin_user, dashboard=manager)
    dashboards.resize_widget(actor=admin_user, widget=widget, span=12)
    widget.refresh_from_db()
    assert widget.span == 12


def test_a_reps_list_widget_shows_only_their_records(rep, other_rep, web_client_for):
    due = timezone.now() + dt.timedelta(days=1)
    create_task(actor=rep, title="Call Ada", due_at=due, assignee=rep)
    create_task(actor=other_rep, title="Call Bob", due_at=due, assignee=other_rep)
    make_contact(owner=rep, lifecycle_stage="lead", first_name="Ada")
    make_contact(owner=other_rep, lifecycle_stage="lead", first_name="Bob")
    board = dashboards.create_dashboard(actor=rep, name="Mine")
    tasks = dashboards.add_widget(actor=rep, dashboard=board, kind="list", list_key="my_open_tasks")
    leads = dashboards.add_widget(
        actor=rep, dashboard=board, kind="list", list_key="my_leads_by_score"
    )

    assert [row.label for row in widget_context(tasks, rep)["listing"].rows] == ["Call Ada"]
    assert [row.label.split()[0] for row in widget_context(leads, rep)["listing"].rows] == ["Ada"]
    page = web_client_for(rep).get(_widget_url(tasks)).content.decode()
    assert "Call Ada" in page and "Call Bob" not in page


def test_a_report_widget_counts_only_the_viewers_records(rep, other_rep, web_client_for):
    make_contact(owner=rep, lifecycle_stage="lead")
    make_contact(owner=other_rep, lifecycle_stage="lead")
    make_contact(owner=other_rep, lifecycle_stage="lead")
    report = services.create_report(
        actor=rep,
        name="By stage",
        source="contacts",
        group_by="lifecycle_stage",
        chart="table",
        shared_roles=[rep.role_id],
    )
    board = dashboards.create_dashboard(actor=rep, name="Mine", shared_roles=[rep.role_id])
    widget = dashboards.add_widget(actor=rep, dashboard=board, kind="report", report=report, span=6)
    assert widget_context(widget, rep)["table"]["rows"][0]["cells"][0]["value"] == 1
    assert widget_context(widget, other_rep)["table"]["rows"][0]["cells"][0]["value"] == 2


def test_a_widget_cannot_show_a_report_the_editor_may_not_open(owner, outsider, board):
    theirs = services.create_report(
        actor=outsider, name="Theirs", source="contacts", group_by="lifecycle_stage"
    )
    with pytest.raises(ValidationError) as error:
        dashboards.add_widget(actor=owner, dashboard=board, kind="report", report=theirs)
    assert error.value.message_dict == {"report": ["Choose one of the reports you may open."]}
    assert not board.widgets.exists()


def test_a_kpi_that_cannot_be_computed_says_why(owner, board):
    widget = dashboards.add_widget(actor=owner, dashboard=board, kind="kpi", kpi="win_rate", span=3)
    tile = widget_context(widget, owner)["tile"]
    assert tile.value is None
    assert tile.missing_text == (
        "Not measured yet: the daily snapshot has not run since this KPI was added."
    )


# --------------------------------------------------------------------------- editing


def test_add_reorder_resize_and_remove_widgets(owner, board, web_client_for):
    client = web_client_for(owner)
    add = reverse("reports:dashboard_widget_add", args=[board.pk])
    assert (
        client.post(add, {"kind": "list", "list_key": "my_open_tasks", "span": "6"}).status_code
        == 302
    )
    assert client.post(add, {"kind": "kpi", "kpi": "win_rate", "span": "3"}).status_code == 302
    first, second = board.widgets.order_by("position")
    move = reverse("reports:dashboard_widget_move", args=[board.pk, second.pk])
    client.post(move, {"direction": "earlier"})
    assert list(board.widgets.order_by("position").values_list("kind", flat=True)) == [
        "kpi",
        "list",
    ]
    client.post(
        reverse("reports:dashboard_widget_resize", args=[board.pk, first.pk]), {"span": "12"}
    )
    first.refresh_from_db()
    assert first.span == 12
    client.post(reverse("reports:dashboard_widget_remove", args=[board.pk, second.pk]))
    assert list(board.widgets.values_list("pk", flat=True)) == [first.pk]
    assert ChangeRecord.objects.filter(object_id=str(board.pk)).count() >= 5


def test_a_bad_widget_is_refused_beside_its_field(owner, board, web_client_for):
    add = reverse("reports:dashboard_widget_add", args=[board.pk])
    response = web_client_for(owner).post(add, {"kind": "kpi", "kpi": "no_such_kpi", "span": "5"})
    assert response.status_code == 422
    form = response.context["add_forms"]["kpi"]
    assert set(form.errors) == {"kpi", "span"}
    assert not board.widgets.exists()


def test_a_role_has_one_home_dashboard(admin_user, owner, rep_role):
    first = dashboards.create_dashboard(actor=owner, name="First")
    second = dashboards.create_dashboard(actor=owner, name="Second")
    with pytest.raises(PermissionDenied):
        dashboards.set_role_defaults(actor=owner, dashboard=first, roles=[rep_role])
    dashboards.set_role_defaults(actor=admin_user, dashboard=first, roles=[rep_role])
    dashboards.set_role_defaults(actor=admin_user, dashboard=second, roles=[rep_role])
    assert list(rep_role.default_dashboards.all()) == [second]


# --------------------------------------------------------------------------- built-ins and Home


def test_the_built_ins_exist_and_each_widget_renders(rep_role, admin_user, web_client_for):
    ensure_builtin_dashboards()
    ensure_builtin_dashboards()
    assert set(Dashboard.objects.exclude(key="").values_list("key", flat=True)) == set(BUILTINS)
    assert list(Dashboard.objects.get(key="rep").default_for_roles.all()) == [rep_role]
    client = web_client_for(admin_user)
    for dashboard in Dashboard.objects.exclude(key=""):
        assert client.get(dashboard.get_absolute_url()).status_code == 200
        assert dashboard.widgets.count() == len(BUILTINS[dashboard.key]["widgets"])
        for widget in dashboard.widgets.all():
            response = client.get(_widget_url(widget), HTTP_HX_REQUEST="true")
            assert response.status_code == 200
            assert "could not be shown" not in response.content.decode(), widget


def test_home_shows_the_roles_dashboard_and_keeps_its_panels(rep, web_client_for):
    response = web_client_for(rep).get(reverse("core:home"))
    assert response.status_code == 200
    page = response.content.decode()
    rep_board = Dashboard.objects.get(key="rep")
    (entry,) = response.context["top_widgets"]
    assert entry["context"]["dashboard"] == rep_board
    assert 'hx-trigger="load"' in page
    for widget in rep_board.widgets.all():
        assert _widget_url(widget) in page
    # Home's other panels are still there.
    assert {w["panel"].key for w in response.context["main_widgets"]} >= {"sales_my_day"}


def test_home_without_a_role_dashboard_keeps_its_content_and_offers_a_picker(owner, web_client_for):
    response = web_client_for(owner).get(reverse("core:home"))
    (entry,) = response.context["top_widgets"]
    assert entry["context"]["dashboard"] is None
    assert response.context["main_widgets"]
    page = response.content.decode()
    assert "Choose a dashboard" in page and 'hx-trigger="load"' not in page


def test_home_shows_a_picked_dashboard_only_if_the_user_may_see_it(
    owner, outsider, board, web_client_for
):
    mine = web_client_for(owner).get(reverse("core:home"), {"dashboard": board.pk})
    assert mine.context["top_widgets"][0]["context"]["dashboard"] == board
    theirs = web_client_for(outsider).get(reverse("core:home"), {"dashboard": board.pk})
    assert theirs.status_code == 200
    assert theirs.context["top_widgets"][0]["context"]["dashboard"] is None


@pytest.mark.parametrize("who", ["read_only", "outsider"])
def test_every_dashboard_write_refuses_who_may_not(who, owner, outsider, read_only_user, rep_role):
    actor = {"read_only": read_only_user, "outsider": outsider}[who]
    board = dashboards.create_dashboard(actor=owner, name="Mine")
    widget = dashboards.add_widget(actor=owner, dashboard=board, kind="kpi", kpi="win_rate")
    calls = {
        "update": lambda: dashboards.update_dashboard(actor=actor, dashboard=board, name="Theirs"),
        "roles": lambda: dashboards.set_role_defaults(
            actor=actor, dashboard=board, roles=[rep_role]
        ),
        "delete": lambda: dashboards.delete_dashboard(actor=actor, dashboard=board),
        "add": lambda: dashboards.add_widget(
            actor=actor, dashboard=board, kind="list", list_key="my_open_tasks"
        ),
        "remove": lambda: dashboards.remove_widget(actor=actor, widget=widget),
        "resize": lambda: dashboards.resize_widget(actor=actor, widget=widget, span=12),
        "move": lambda: dashboards.move_widget(actor=actor, widget=widget, offset=1),
    }
    records = ChangeRecord.objects.count()
    for name, call in calls.items():
        with pytest.raises(PermissionDenied):
            call()
        assert ChangeRecord.objects.count() == records, name
    board.refresh_from_db()
    widget.refresh_from_db()
    assert (board.name, widget.span, board.widgets.count()) == ("Mine", 4, 1)
    assert not board.default_for_roles.exists()
