"""Assignment rules for contacts that are not leads, organizations and deals: new records
whose owner nobody chose go to the first rule of their kind that matches and can place them,
only to people who may write them, and a rule that cannot place one says so."""

import json

import pytest
from django.core.exceptions import ValidationError

from rapport.accounts.tests.factories import RoleFactory, TeamFactory, UserFactory
from rapport.audit.models import ChangeRecord
from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.sales.assignment import create_assignment_rule
from rapport.sales.models import AssignmentRule, Deal, Notification, RoundRobinState

pytestmark = pytest.mark.django_db

BIG = {"field": "amount", "op": "gte", "value": 5000}
GERMAN = {"field": "country", "op": "eq", "value": "DE"}


@pytest.fixture
def key_rep(team_scope_role, sales_team):
    return UserFactory(username="keyrep", role=team_scope_role, teams=[sales_team])


@pytest.fixture
def viewer():
    role = RoleFactory(name="Viewer", is_read_only=True, scopes={"contacts": "all"})
    return UserFactory(username="viewer", role=role)


def rule(admin_user, kind, condition, **target):
    return create_assignment_rule(
        actor=admin_user, name=f"{kind} rule", kind=kind, condition=condition, **target
    )


def test_a_new_deal_left_with_its_creator_goes_to_the_first_matching_deal_rule(
    admin_user, owner, key_rep, make_deal, django_capture_on_commit_callbacks
):
    rule(admin_user, "deal", BIG, target_user=key_rep)
    with django_capture_on_commit_callbacks(execute=True):
        big = make_deal(owner=owner, name="Fleet renewal", amount="12000.00")
        small = make_deal(owner=owner, name="Spare parts", amount="300.00")
    assert Deal.objects.get(pk=big.pk).owner == key_rep
    assert Deal.objects.get(pk=small.pk).owner == owner
    changes = ChangeRecord.objects.filter(entity="sales.deal", object_id=str(big.pk))
    change = changes.order_by("pk").last()
    assert change.after["owner_id"] == key_rep.pk and change.actor_label == "system"
    told = Notification.objects.get(recipient=key_rep)
    assert (told.kind, told.title) == ("record_assigned", "New deal: Fleet renewal")
    assert told.body == f'Rule "deal rule" matched (amount greater than or equal 5000) → {key_rep}.'


def test_an_owner_picked_for_someone_else_is_kept(
    admin_user, owner, teammate, key_rep, make_deal, django_capture_on_commit_callbacks
):
    rule(admin_user, "deal", BIG, target_user=key_rep)
    with django_capture_on_commit_callbacks(execute=True):
        from rapport.sales.services.deals import create_deal

        deal = create_deal(
            actor=owner,
            owner=teammate,
            name="Picked",
            pipeline=make_deal(owner=owner, amount="1.00").pipeline,
            amount="9000.00",
            expected_close_date="2030-01-01",
        )
    assert Deal.objects.get(pk=deal.pk).owner == teammate


def test_organization_round_robin_picks_only_people_who_may_write_it(
    admin_user, owner, team_scope_role, viewer, django_capture_on_commit_callbacks
):
    team = TeamFactory(name="DACH")
    writer = UserFactory(username="writer", role=team_scope_role, teams=[team])
    viewer.teams.add(team)
    rule(admin_user, "organization", GERMAN, target_team=team)
    with django_capture_on_commit_callbacks(execute=True):
        first = make_organization(actor=owner, owner=owner, name="Erste GmbH", country="DE")
        second = make_organization(actor=owner, owner=owner, name="Zweite AG", country="DE")
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.owner, second.owner) == (writer, writer)
    assert RoundRobinState.objects.get(team=team).last_user == writer


def test_when_nobody_may_take_the_record_it_stays_and_the_creator_is_told_why(
    admin_user, owner, team_scope_role, viewer, django_capture_on_commit_callbacks
):
    team = TeamFactory(name="DACH")
    away = UserFactory(username="away", role=team_scope_role, teams=[team], is_away=True)
    viewer.teams.add(team)
    rule(admin_user, "organization", GERMAN, target_team=team)
    with django_capture_on_commit_callbacks(execute=True):
        org = make_organization(actor=owner, owner=owner, name="Dritte KG", country="DE")
    org.refresh_from_db()
    assert org.owner == owner
    told = Notification.objects.get(recipient=owner)
    assert told.kind == "assignment_blocked"
    assert told.title == "No one could take the organization Dritte KG"
    assert f"{away}: away" in told.body and f"{viewer}: has a read-only role" in told.body
    assert told.body.endswith(f"No other rule placed the organization: it stays with {owner}.")
    assert not Notification.objects.filter(recipient__in=[away, viewer]).exists()


def test_a_contact_rule_places_new_customers_and_leaves_leads_to_the_lead_rules(
    admin_user, owner, key_rep, django_capture_on_commit_callbacks
):
    rule(admin_user, "contact", GERMAN, target_user=key_rep)
    with django_capture_on_commit_callbacks(execute=True):
        customer = make_contact(actor=owner, owner=owner, lifecycle_stage="customer", country="DE")
        lead = make_contact(actor=owner, owner=owner, lifecycle_stage="lead", country="DE")
    assert Contact.objects.get(pk=customer.pk).owner == key_rep
    assert Contact.objects.get(pk=lead.pk).owner == owner


def test_a_rule_tests_the_fields_of_its_kind_and_names_a_known_kind(admin_user, key_rep):
    with pytest.raises(ValidationError) as caught:
        rule(
            admin_user,
            "deal",
            {"field": "job_title", "op": "eq", "value": "CEO"},
            target_user=key_rep,
        )
    assert list(caught.value.message_dict) == ["condition"]
    with pytest.raises(ValidationError) as caught:
        rule(admin_user, "planet", GERMAN, target_user=key_rep)
    assert caught.value.message_dict["kind"] == [
        "Choose what the rule applies to: leads, contacts that are not leads, organizations, deals."
    ]
    assert not AssignmentRule.objects.exists()


def test_the_rule_form_draws_the_builder_with_the_chosen_kinds_fields(
    web_client_for, admin_user, owner, key_rep
):
    client = web_client_for(admin_user)
    page = client.get("/sales/assignment/").content.decode()
    assert 'name="rule-kind"' in page and 'hx-get="/sales/assignment/"' in page
    fragment = client.get(
        "/sales/assignment/", {"rule-kind": "deal"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'id="condition-block"' in fragment and "<html" not in fragment
    labels = [field["label"] for field in json.loads(_fields_json(fragment))]
    assert "Deal name" in labels and "Amount" in labels and "Job title" not in labels
    assert "Check against current deals" in fragment
    added = client.post(
        "/sales/assignment/",
        {
            "action": "add_rule",
            "rule-name": "Big deals",
            "rule-kind": "deal",
            "rule-condition": json.dumps(BIG),
            "rule-target_user": key_rep.pk,
            "rule-position": 10,
            "rule-is_active": "on",
        },
    )
    assert added.status_code == 302
    assert AssignmentRule.objects.get().kind == "deal"


def test_checking_an_organization_rule_counts_organizations(web_client_for, admin_user, owner):
    make_organization(actor=owner, owner=owner, name="Erste GmbH", country="DE")
    make_organization(actor=owner, owner=owner, name="First Inc", country="US")
    check = web_client_for(admin_user).post(
        "/sales/conditions/check/",
        {"rule-kind": "organization", "rule-condition": json.dumps(GERMAN)},
    )
    assert "Matches <strong>1</strong> of 2 current organizations" in check.content.decode()


def _fields_json(html: str) -> str:
    import html as html_module

    start = html.index('data-fields="') + len('data-fields="')
    return html_module.unescape(html[start : html.index('"', start)])


def test_deals_and_organizations_by_the_rules_in_bulk_and_back(
    admin_user, owner, key_rep, make_deal
):
    from rapport.core import bulk

    rule(admin_user, "deal", BIG, target_user=key_rep)
    rule(admin_user, "organization", GERMAN, target_user=key_rep)
    big = make_deal(owner=owner, name="Fleet renewal", amount="12000.00")
    small = make_deal(owner=owner, name="Spare parts", amount="300.00")
    german = make_organization(actor=owner, owner=owner, name="Erste GmbH", country="DE")

    deals = bulk.start(
        actor=owner, entity_key="deals", action_key="assign_by_rules", ids=[big.pk, small.pk]
    )
    organizations = bulk.start(
        actor=owner, entity_key="organizations", action_key="assign_by_rules", ids=[german.pk]
    )

    assert (deals.changed, deals.skipped, organizations.changed) == (1, 1, 1)
    assert Deal.objects.get(pk=big.pk).owner == key_rep
    assert Deal.objects.get(pk=small.pk).owner == owner
    bulk.start_undo(actor=owner, operation=deals)
    assert Deal.objects.get(pk=big.pk).owner == owner


def test_the_api_takes_and_tells_a_rules_kind(api_client_for, admin_user, key_rep):
    client = api_client_for(admin_user)

    def post(body):
        return client.post(
            "/api/v1/assignment-rules/", json.dumps(body), content_type="application/json"
        )

    created = post(
        {"name": "Big deals", "kind": "deal", "condition": BIG, "target_user_id": key_rep.pk}
    )
    assert created.status_code == 201
    assert (created.json()["kind"], created.json()["description"]) == (
        "deal",
        "amount greater than or equal 5000",
    )
    wrong_fields = post(
        {"name": "x", "kind": "organization", "condition": BIG, "target_user_id": key_rep.pk}
    )
    assert wrong_fields.status_code == 422
    assert [error["field"] for error in wrong_fields.json()["errors"]] == ["body.condition"]
    listed = client.get("/api/v1/assignment-rules/").json()
    assert [(rule["name"], rule["kind"]) for rule in listed] == [("Big deals", "deal")]


def test_imported_deals_without_an_owner_column_go_through_the_deal_rules(
    admin_user, owner, key_rep, pipeline, django_capture_on_commit_callbacks, settings, tmp_path
):
    from rapport.core.tests.importing_helpers import import_csv

    settings.MEDIA_ROOT = tmp_path / "media"
    rule(admin_user, "deal", BIG, target_user=key_rep)
    with django_capture_on_commit_callbacks(execute=True):
        import_csv(
            owner,
            "deal",
            "deals.csv",
            ["Deal Name", "Amount", "Close Date"],
            [["Expansion", "20000", "2031-01-31"], ["Top-up", "800", "2031-02-28"]],
        )
    owners = dict(Deal.objects.values_list("name", "owner_id"))
    assert owners == {"Expansion": key_rep.pk, "Top-up": owner.pk}


def test_organization_conditions_read_custom_fields_and_tags_in_the_database(admin_user, owner):
    from rapport.customfields.services import create_definition
    from rapport.sales import assignment_kinds

    create_definition(
        actor=admin_user,
        entity="organization",
        key="tier",
        label="Tier",
        field_type="choice",
        choices=["gold", "silver"],
    )
    gold = make_organization(
        actor=owner, owner=owner, name="Gold AG", custom_fields={"tier": "gold"}, tags=["key"]
    )
    make_organization(actor=owner, owner=owner, name="Silver AG", custom_fields={"tier": "silver"})
    both = {
        "all": [
            {"field": "custom_fields.tier", "op": "eq", "value": "gold"},
            {"field": "tags", "op": "contains", "value": "key"},
        ]
    }
    assert assignment_kinds.matches_now("organization", both) == (1, 2)
    assert assignment_kinds.matching("organization", both, [gold.pk]) == {gold.pk}
    labels = {f["name"]: f for f in assignment_kinds.builder_fields_for("organization")}
    assert labels["custom_fields.tier"]["choices"] == [["gold", "gold"], ["silver", "silver"]]
