"""Assignment rules: territories, products, round robin with away and capacity, fallback, why."""

import pytest
from django.core.exceptions import ValidationError

from rapport.accounts.tests.factories import TeamFactory, UserFactory
from rapport.contacts.tests.factories import make_contact
from rapport.sales.assignment import (
    assign_lead,
    assign_lead_by_hand,
    create_assignment_rule,
    reassign_leads,
)
from rapport.sales.models import LeadAssignment, LeadScore, Notification, RoundRobinState
from rapport.sales.services.leads import create_lead
from rapport.sales.services.settings import update_sales_settings

pytestmark = pytest.mark.django_db

BERLIN = {
    "all": [
        {"field": "country", "op": "eq", "value": "DE"},
        {"field": "postcode", "op": "between", "value": ["10000", "19999"]},
    ]
}


@pytest.fixture
def north(db, team_scope_role):
    team = TeamFactory(name="Territory North")
    members = [
        UserFactory(username=f"rep{i}", role=team_scope_role, teams=[team]) for i in range(3)
    ]
    return team, members


@pytest.fixture
def gold_rep(team_scope_role):
    return UserFactory(username="goldie", role=team_scope_role)


@pytest.fixture
def fallback(admin_user, team_scope_role):
    person = UserFactory(username="fallback", role=team_scope_role)
    update_sales_settings(actor=admin_user, fallback_owner=person)
    return person


@pytest.fixture
def rules(admin_user, north, gold_rep):
    team, _members = north
    return [
        create_assignment_rule(
            actor=admin_user,
            name="Gold plan interest",
            condition={"field": "product_of_interest", "op": "contains", "value": "Gold plan"},
            target_user=gold_rep,
            position=10,
        ),
        create_assignment_rule(
            actor=admin_user,
            name="Berlin territory",
            condition=BERLIN,
            target_team=team,
            position=20,
        ),
    ]


def new_lead(actor, **fields):
    fields.setdefault("first_name", "New")
    fields.setdefault("last_name", "Lead")
    return create_lead(actor=actor, **fields)


def test_territory_goes_round_robin_in_member_order(admin_user, rules, north):
    _team, members = north
    owners = []
    for i in range(4):
        lead = new_lead(admin_user, country="DE", postcode=f"1011{i}")
        owners.append(assign_lead(contact=lead).owner)
    assert owners == [members[0], members[1], members[2], members[0]]
    assignment = LeadAssignment.objects.filter(owner=members[1]).get()
    assert assignment.rule_name == "Berlin territory"
    assert assignment.method == "round_robin"
    assert assignment.reason == (
        'Rule "Berlin territory" matched (country equals "DE" and postcode between "10000" and '
        f'"19999") → team Territory North in round robin → {members[1]}.'
    )


def test_round_robin_skips_people_away_or_at_capacity(admin_user, rules, north):
    _team, members = north
    members[0].is_away = True
    members[0].save()
    members[1].open_lead_capacity = 1
    members[1].save()
    make_contact(actor=admin_user, owner=members[1], lifecycle_stage="lead", first_name="Held")
    lead = new_lead(admin_user, country="DE", postcode="10999")
    assignment = assign_lead(contact=lead)
    assert assignment.owner == members[2]
    assert f"{members[0]}: away" in assignment.reason
    assert f"{members[1]}: at capacity 1/1" in assignment.reason
    assert RoundRobinState.objects.get(team=rules[1].target_team).last_user == members[2]


def test_product_rule_wins_first_but_an_away_person_passes_it_on(
    admin_user, rules, gold_rep, fallback
):
    lead = new_lead(admin_user, country="FR", products_of_interest=["Gold plan"])
    assert assign_lead(contact=lead).owner == gold_rep
    gold_rep.is_away = True
    gold_rep.save()
    other = new_lead(admin_user, country="FR", products_of_interest=["gold plan"])
    assignment = assign_lead(contact=other)
    assert assignment.owner == fallback
    assert assignment.method == "fallback"
    assert 'Rule "Gold plan interest" matched' in assignment.reason
    assert f"{gold_rep} is away" in assignment.reason


def test_nobody_available_is_recorded_too(admin_user, rules):
    lead = new_lead(admin_user, country="US")
    assignment = assign_lead(contact=lead)
    assert assignment.owner is None
    assert assignment.method == "unassigned"
    assert assignment.reason == "No rule placed the lead and no fallback owner is set."
    lead.refresh_from_db()
    assert lead.owner is None


def test_owned_leads_are_left_alone_unless_rerun(admin_user, owner, rules, north):
    lead = new_lead(admin_user, owner=owner, country="DE", postcode="10115")
    assert assign_lead(contact=lead) is None
    rerun = assign_lead(contact=lead, only_if_unowned=False, keep_team_owner=True)
    assert rerun.owner == north[1][0]


def test_rerun_keeps_an_owner_already_in_the_target_team(admin_user, rules, north):
    _team, members = north
    kept = new_lead(admin_user, owner=members[2], country="DE", postcode="10115")
    loose = new_lead(admin_user, country="DE", postcode="10116")
    result = reassign_leads(actor=admin_user, scope="all")
    assert result == {"examined": 2, "changed": 1, "unchanged": 1, "unassigned": 0}
    kept.refresh_from_db()
    loose.refresh_from_db()
    assert kept.owner == members[2]
    assert loose.owner == members[0]
    assert LeadAssignment.objects.get(contact=kept).method == "kept"


def test_the_new_owner_is_notified_once(admin_user, rules, north):
    lead = new_lead(admin_user, country="DE", postcode="10115")
    assign_lead(contact=lead)
    note = Notification.objects.get(recipient=north[1][0])
    assert note.kind == "lead_assigned"
    assert note.url == f"/sales/leads/{lead.pk}/"


def test_by_hand_with_a_note(admin_user, owner):
    lead = new_lead(admin_user)
    assignment = assign_lead_by_hand(actor=admin_user, contact=lead, owner=owner, note="knows them")
    assert assignment.method == "manual"
    assert assignment.reason.endswith("knows them")
    lead.refresh_from_db()
    assert lead.owner == owner


def test_a_rule_needs_one_target_and_a_valid_condition(admin_user, north, gold_rep):
    with pytest.raises(ValidationError) as caught:
        create_assignment_rule(
            actor=admin_user, name="Both", condition={}, target_user=gold_rep, target_team=north[0]
        )
    assert caught.value.message_dict == {"target": ["Choose either a person or a team."]}
    with pytest.raises(ValidationError) as caught:
        create_assignment_rule(
            actor=admin_user,
            name="Bad",
            condition={"field": "postcode", "op": "between", "value": "10000"},
            target_user=gold_rep,
        )
    assert caught.value.message_dict["condition"] == [
        "The condition, value: must be a list of two values"
    ]


def test_custom_fields_and_score_ranges_are_conditions(admin_user, gold_rep, fallback):
    from rapport.customfields.services import create_definition
    from rapport.sales.scoring.services import create_scoring_rule

    create_definition(
        actor=admin_user, entity="contact", key="fleet", label="Fleet size", field_type="number"
    )
    create_scoring_rule(actor=admin_user, name="Base", condition={}, points=40)
    create_assignment_rule(
        actor=admin_user,
        name="Big fleets that score",
        condition={
            "all": [
                {"field": "custom_fields.fleet", "op": "gte", "value": 100},
                {"field": "score", "op": "between", "value": [30, 100]},
            ]
        },
        target_user=gold_rep,
    )
    from rapport.sales.scoring.services import score_lead

    big = new_lead(admin_user, custom_fields={"fleet": 250})
    small = new_lead(admin_user, custom_fields={"fleet": 20})
    score_lead(contact=big)
    score_lead(contact=small)
    assert assign_lead(contact=big).owner == gold_rep
    assert assign_lead(contact=small).owner == fallback


def test_a_new_lead_is_scored_and_assigned_after_commit(
    admin_user, rules, north, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lead = new_lead(admin_user, country="DE", postcode="10115", source="trade_show")
    lead.refresh_from_db()
    assert lead.owner == north[1][0]
    assert LeadScore.objects.filter(contact=lead).exists()
    assert LeadAssignment.objects.get(contact=lead).rule_name == "Berlin territory"


def test_a_lead_no_rule_places_stays_with_whoever_brought_it_in(
    owner, rules, django_capture_on_commit_callbacks
):
    # A team-scoped rep creates a lead nobody else would take: left unassigned, it would
    # vanish from their own list.
    with django_capture_on_commit_callbacks(execute=True):
        lead = new_lead(owner, country="US")
    lead.refresh_from_db()
    assert lead.owner == owner
    assignment = LeadAssignment.objects.get(contact=lead)
    assert assignment.method == "fallback"
    assert assignment.reason == (
        f"No rule or fallback owner placed the lead: it stays with {owner}, who brought it in."
    )


def test_a_read_only_creator_is_not_given_the_lead(owner, rules):
    from rapport.accounts.tests.factories import RoleFactory

    viewer = UserFactory(role=RoleFactory(name="Viewer", is_read_only=True))
    lead = new_lead(owner, country="US")
    lead.owner = None
    lead.save(update_fields=["owner"])
    assignment = assign_lead(contact=lead, creator=viewer)
    assert assignment.owner is None and assignment.method == "unassigned"


def test_a_customer_is_not_assigned_by_lead_rules(admin_user, rules):
    customer = make_contact(actor=admin_user, lifecycle_stage="customer")
    with pytest.raises(ValidationError):
        assign_lead(contact=customer)


def test_a_batch_of_new_leads_goes_on_past_a_lead_whose_assignment_fails(
    admin_user, owner, rules, north, monkeypatch, caplog
):
    from rapport.sales import assignment
    from rapport.sales.services.leads import process_new_leads

    berlin = {"country": "DE", "postcode": "10115"}
    first, broken, last = (new_lead(admin_user, last_name=n, **berlin) for n in "ABC")
    owned = new_lead(admin_user, last_name="Owned", owner=owner, **berlin)
    customer = make_contact(actor=admin_user, lifecycle_stage="customer")
    real_assign = assignment.assign_lead

    def assign_or_fail(*, contact, **kwargs):
        if contact.pk == broken.pk:
            raise RuntimeError("rule engine down")
        return real_assign(contact=contact, **kwargs)

    monkeypatch.setattr(assignment, "assign_lead", assign_or_fail)
    ids = [first.pk, broken.pk, last.pk, owned.pk, customer.pk]
    assert process_new_leads(contact_ids=ids) == {"leads": 4, "assigned": 2, "failed": 1}
    assert f"could not assign the new lead {broken.pk}" in caplog.text
    assert set(LeadAssignment.objects.values_list("contact_id", flat=True)) == {first.pk, last.pk}
    scored = set(LeadScore.objects.values_list("contact_id", flat=True))
    assert scored == {first.pk, broken.pk, last.pk, owned.pk}
    owned.refresh_from_db()
    assert owned.owner == owner
