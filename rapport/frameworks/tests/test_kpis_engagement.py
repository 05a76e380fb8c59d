"""Interaction KPIs, and KPIs over the strategically significant customers (the analytics
platinum and gold tiers)."""

import pytest

from rapport.accounts.tests.factories import RoleFactory
from rapport.contacts.services import add_relationship
from rapport.contacts.tests.factories import make_organization
from rapport.frameworks.kpis import Measurement, NotMeasurable
from rapport.frameworks.tests.conftest import customer, measure, refresh_analytics, touch

pytestmark = pytest.mark.django_db


def value(key, **context):
    result = measure(key, **context)
    assert isinstance(result, Measurement), result
    return result


def test_active_customers_touched_and_channels(owner):
    active = customer(name="Ann", orders=[(10, 100)], owner=owner)
    quiet = customer(name="Ben", orders=[(20, 100)], owner=owner)
    lapsed = customer(name="Cat", orders=[(400, 100)], owner=owner)
    touch(active, 5, actor=owner, kind="call")
    touch(active, 6, actor=owner, kind="email")
    touch(quiet, 3, actor=owner, kind="note", body="Internal")  # internal: not a touch
    touch(lapsed, 2, actor=owner, kind="meeting")  # not an active customer
    result = value("active_customers_touched_90d")
    assert (result.numerator, result.denominator) == (1, 2)
    # phone (call), email, in person (meeting); the note is internal.
    assert value("channel_count_90d").value == 3


@pytest.fixture
def tiers(admin_user, owner, outsider):
    from rapport.analytics.services import update_configuration

    # Five customers by revenue; with these shares the best is platinum and the second gold.
    update_configuration(actor=admin_user, platinum_share=0.2, gold_share=0.4, silver_share=0.6)
    people = {
        "A": customer(name="A", orders=[(10, 1000)], owner=owner),
        "B": customer(name="B", orders=[(12, 800)], owner=owner),
        "C": customer(name="C", orders=[(14, 100)], owner=owner),
        "D": customer(name="D", orders=[(16, 50)], owner=owner),
        "E": customer(name="E", orders=[(18, 20)], owner=owner),
    }
    run = refresh_analytics(owner)
    assert run.status == "succeeded", run.message
    return people


def test_significant_customers_come_from_the_tiers(tiers):
    from rapport.analytics.models import CustomerAnalytics

    tiers_of = dict(CustomerAnalytics.objects.values_list("contact__first_name", "value_tier"))
    assert tiers_of["A"] == "platinum" and tiers_of["B"] == "gold"
    result = value("identification_rate", population="significant")
    assert result.denominator == 2


def test_interactions_and_teams_around_significant_customers(tiers, owner, outsider):
    # Another team logs on these customers as service does: with a role that sees every contact.
    outsider.role = RoleFactory(name="Service (all contacts)", scopes={"contacts": "all"})
    outsider.save()
    touch(tiers["A"], 3, actor=owner)
    touch(tiers["A"], 4, actor=outsider, kind="email")
    touch(tiers["B"], 5, actor=owner, kind="meeting")
    touch(tiers["C"], 5, actor=owner)  # not significant
    per_customer = value("interactions_per_significant_customer_90d")
    assert (per_customer.numerator, per_customer.denominator) == (3, 2)
    # A was in touch with the sales team and the service team; B only with sales.
    teams = value("multi_team_touch_rate")
    assert (teams.numerator, teams.denominator) == (1, 2)


def test_network_mapped_around_significant_customers(tiers, owner, admin_user):
    from rapport.contacts.services import add_membership

    mapped = make_organization(owner=owner, name="Mapped Ltd")
    unmapped = make_organization(owner=owner, name="Alone Ltd")
    partner = make_organization(owner=owner, name="Partner Ltd")
    add_membership(actor=admin_user, contact=tiers["A"], organization=mapped)
    add_membership(actor=admin_user, contact=tiers["B"], organization=unmapped)
    add_relationship(
        actor=admin_user, from_organization=partner, to_organization=mapped, kind="partner"
    )
    result = value("organization_network_coverage")
    assert (result.numerator, result.denominator) == (1, 2)


def test_without_significant_customers_the_reason_is_given(owner):
    customer(name="Solo", orders=[(10, 100)], owner=owner)
    refresh_analytics(owner)
    result = measure("interactions_per_significant_customer_90d")
    assert isinstance(result, NotMeasurable)
    assert "no strategically significant customers" in result.reason


def test_whole_database_kpis_refuse_a_population(owner):
    result = measure("linked_interaction_share", population="significant")
    assert isinstance(result, NotMeasurable)
    assert "whole database" in result.reason
