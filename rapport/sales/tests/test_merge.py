"""Merged contacts and organizations keep their deals, tasks and lead history."""

import pytest
from django.utils import timezone

from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core import registry
from rapport.sales.models import (
    Deal,
    LeadScore,
    LeadScoreHistory,
    ProductInterest,
    Task,
    WebFormSubmission,
)
from rapport.sales.scoring.services import score_lead
from rapport.sales.services.leads import add_products_of_interest
from rapport.sales.services.webforms import create_webform, submit_web_form
from rapport.sales.services.work import create_task

pytestmark = pytest.mark.django_db


def relation(key):
    return next(r for r in registry.merge_relations if r.key == key)


def test_the_survivor_gets_the_losers_sales_records(owner, admin_user, make_deal):
    survivor = make_contact(actor=owner, owner=owner, first_name="Keep", emails=["keep@x.example"])
    loser = make_contact(actor=owner, owner=owner, first_name="Drop", emails=["drop@x.example"])
    deal = make_deal(owner=owner, contact=loser)
    task = create_task(actor=owner, title="Call", due_at=timezone.now(), contact=loser)
    add_products_of_interest(actor=owner, contact=survivor, products=["Gold plan"])
    add_products_of_interest(actor=owner, contact=loser, products=["gold plan", "Support"])
    form = create_webform(
        actor=admin_user, name="F", fields=[{"target": "email", "required": True}]
    )
    submit_web_form(form=form, data={"email": "drop@x.example"})
    score_lead(contact=loser)

    relation("sales_contact").move(loser=loser, survivor=survivor, actor=admin_user)

    assert Deal.objects.get(pk=deal.pk).contact == survivor
    assert Task.objects.get(pk=task.pk).contact == survivor
    assert WebFormSubmission.objects.get().contact == survivor
    assert sorted(
        ProductInterest.objects.filter(contact=survivor).values_list("product", flat=True)
    ) == [
        "Gold plan",
        "Support",
    ]
    assert not ProductInterest.objects.filter(contact=loser).exists()
    assert not LeadScore.objects.filter(contact=loser).exists()
    assert LeadScoreHistory.objects.filter(contact=survivor).count() == 1


def test_organization_merges_move_deals_and_tasks(owner, admin_user, make_deal):
    survivor = make_organization(actor=owner, owner=owner, name="Keep Ltd")
    loser = make_organization(actor=owner, owner=owner, name="Keep Limited")
    deal = make_deal(owner=owner, organization=loser)
    task = create_task(actor=owner, title="Visit", due_at=timezone.now(), organization=loser)
    relation("sales_organization").move(loser=loser, survivor=survivor, actor=admin_user)
    assert Deal.objects.get(pk=deal.pk).organization == survivor
    assert Task.objects.get(pk=task.pk).organization == survivor


def test_stage_changes_land_on_the_contact_timeline(owner, make_deal, stages, lead):
    from rapport.sales.services.deals import move_deal

    deal = make_deal(owner=owner, contact=lead, name="Timeline deal")
    move_deal(actor=owner, deal=deal, stage=stages["Proposal"])
    source = next(s for s in registry.timeline_sources if s.key == "sales_deal_stages")
    entries = source.entries([lead.pk], [], 10)
    assert [e.title for e in entries] == [
        "Deal “Timeline deal” moved to Proposal",
        "Deal “Timeline deal” opened in Qualification",
    ]
    assert entries[0].url == f"/sales/deals/{deal.pk}/"
