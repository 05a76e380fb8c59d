"""Sales under the one access decision: who sees tasks, who may be given deals, tasks and leads."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rapport.accounts.tests.factories import RoleFactory, TeamFactory, UserFactory
from rapport.contacts.tests.factories import make_contact
from rapport.sales.assignment import assign_lead, assign_lead_by_hand, create_assignment_rule
from rapport.sales.models import Task
from rapport.sales.roundrobin import Candidate, pick_next
from rapport.sales.services.leads import create_lead
from rapport.sales.services.settings import get_sales_settings, update_sales_settings
from rapport.sales.services.work import complete_task, create_task

pytestmark = pytest.mark.django_db

DUE = timezone.now() + dt.timedelta(days=2)


@pytest.fixture
def manager(db):
    role = RoleFactory(
        name="Manager (sees everything)",
        is_read_only=True,
        scopes={"contacts": "all", "sales": "all"},
    )
    return UserFactory(username="manager", role=role)


def test_administrator_and_manager_see_every_task(owner, outsider, admin_user, manager):
    create_task(actor=owner, title="Call back", due_at=DUE)
    create_task(actor=outsider, title="Send offer", due_at=DUE)
    assert Task.objects.visible_to(admin_user).count() == 2
    assert Task.objects.visible_to(manager).count() == 2
    assert Task.objects.visible_to(owner).count() == 1


def test_a_task_cannot_go_to_a_read_only_seat(owner, read_only_user):
    with pytest.raises(ValidationError) as caught:
        create_task(actor=owner, title="Call back", due_at=DUE, assignee=read_only_user)
    assert "read-only" in caught.value.message_dict["assignee"][0]
    assert Task.objects.count() == 0


def test_a_task_is_worked_by_its_people_only(owner, outsider, read_only_user):
    task = create_task(actor=owner, title="Call back", due_at=DUE)
    for stranger in (outsider, read_only_user):
        with pytest.raises(PermissionDenied):
            complete_task(actor=stranger, task=task)
    task.refresh_from_db()
    assert task.status == "open"
    handed_off = create_task(actor=owner, title="Hand-off", due_at=DUE, assignee=outsider)
    assert complete_task(actor=outsider, task=handed_off).status == "done"


def test_a_read_only_fallback_owner_is_refused(admin_user, read_only_user):
    with pytest.raises(ValidationError) as caught:
        update_sales_settings(actor=admin_user, fallback_owner=read_only_user)
    assert "read-only" in caught.value.message_dict["fallback_owner"][0]
    assert get_sales_settings().fallback_owner is None


def test_a_fallback_owner_who_became_read_only_leaves_the_lead_unassigned_with_the_reason(
    admin_user, team_scope_role
):
    person = UserFactory(username="fallback", role=team_scope_role)
    update_sales_settings(actor=admin_user, fallback_owner=person)
    person.role = RoleFactory(name="Viewer now", is_read_only=True, scopes={"contacts": "all"})
    person.save()
    lead = create_lead(actor=admin_user, first_name="New", last_name="Lead", country="US")
    assignment = assign_lead(contact=lead)
    assert assignment.owner is None
    assert assignment.method == "unassigned"
    assert "has a read-only role" in assignment.reason
    assert "stays unassigned" in assignment.reason
    lead.refresh_from_db()
    assert lead.owner is None


def test_round_robin_and_rules_pass_over_a_read_only_member(admin_user, team_scope_role):
    team = TeamFactory(name="Territory West")
    viewer_role = RoleFactory(name="Viewer West", is_read_only=True, scopes={"contacts": "team"})
    viewer = UserFactory(username="aaa-viewer", role=viewer_role, teams=[team])
    rep = UserFactory(username="rep-west", role=team_scope_role, teams=[team])
    create_assignment_rule(
        actor=admin_user,
        name="West",
        condition={"field": "country", "op": "eq", "value": "FR"},
        target_team=team,
    )
    for _ in range(2):
        lead = create_lead(actor=admin_user, first_name="New", last_name="Lead", country="FR")
        assignment = assign_lead(contact=lead)
        assert assignment.owner == rep
    assert f"{viewer}: has a read-only role" in assignment.reason


def test_round_robin_skips_a_candidate_who_may_not_own():
    pick = pick_next([Candidate(1, may_own=False), Candidate(2)], None)
    assert pick.chosen.user_id == 2
    assert pick.skipped == ((Candidate(1, may_own=False), "has a read-only role"),)


def test_a_rule_cannot_target_a_read_only_seat(admin_user, read_only_user):
    with pytest.raises(ValidationError) as caught:
        create_assignment_rule(
            actor=admin_user,
            name="To the viewer",
            condition={"field": "country", "op": "eq", "value": "DE"},
            target_user=read_only_user,
        )
    assert "read-only" in caught.value.message_dict["target_user"][0]


def test_a_lead_given_by_hand_goes_only_to_someone_within_reach(owner, outsider, read_only_user):
    lead = make_contact(actor=owner, owner=owner, lifecycle_stage="lead")
    for person in (outsider, read_only_user):
        with pytest.raises(ValidationError) as caught:
            assign_lead_by_hand(actor=owner, contact=lead, owner=person)
        assert "owner" in caught.value.message_dict
    lead.refresh_from_db()
    assert lead.owner == owner


def test_a_deal_page_offers_its_buttons_only_to_who_may_use_them(
    make_deal, owner, manager, web_client_for
):
    from django.urls import reverse

    deal = make_deal(owner=owner)
    task = create_task(actor=owner, title="Call back", due_at=DUE, deal=deal)
    edit = reverse("sales:deal_edit", args=[deal.pk])
    complete = reverse("sales:task_complete", args=[task.pk])
    mine = web_client_for(owner).get(reverse("sales:deal_detail", args=[deal.pk])).content.decode()
    assert edit in mine and complete in mine
    page = web_client_for(manager).get(reverse("sales:deal_detail", args=[deal.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert edit not in html
    assert complete not in html
