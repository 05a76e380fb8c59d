"""Which orders count as revenue: the administrators' setting, honoured by the analytics order
facts, the value KPIs and segments; and its page and API."""

import datetime as dt
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.analytics import queries
from rapport.audit.models import ChangeRecord
from rapport.commerce.models import Order, RevenueSettings
from rapport.commerce.revenue import counted_kinds, revenue_sources, set_revenue_sources
from rapport.commerce.tests.factories import make_order
from rapport.contacts.tests.factories import make_contact
from rapport.frameworks.tests.conftest import measure
from rapport.sales.services.deals import create_deal
from rapport.sales.services.pipelines import create_pipeline

pytestmark = pytest.mark.django_db


@pytest.fixture
def read_only_user(db, sales_team):
    role = RoleFactory(name="Viewer", is_read_only=True, scopes={"contacts": "all", "sales": "all"})
    return UserFactory(username="viewer", role=role, teams=[sales_team])


@pytest.fixture
def history(owner, admin_user):
    """Ada bought 30.00 in the shop; Bob won a 500.00 deal; both in the last year."""
    ada = make_contact(actor=owner, owner=owner, first_name="Ada", lifecycle_stage="customer")
    bob = make_contact(actor=owner, owner=owner, first_name="Bob", lifecycle_stage="customer")
    make_order(actor=owner, contact=ada, days_ago=10, total="30.00")
    pipeline = create_pipeline(actor=admin_user, name="New business", currency="EUR")
    won = pipeline.stages.get(kind="won")
    create_deal(
        actor=owner,
        name="Big deal",
        pipeline=pipeline,
        stage=won,
        amount="500.00",
        contact=bob,
        expected_close_date=timezone.localdate(),
        at=timezone.now() - dt.timedelta(days=5),
    )
    return ada, bob


def _customers() -> dict:
    facts = queries.load_order_facts(currency="EUR", as_of=timezone.localdate())
    totals: dict = {}
    for index, amount in zip(facts.customer_index, facts.amount, strict=True):
        contact = int(facts.contact_ids[index])
        totals[contact] = totals.get(contact, 0) + round(float(amount), 2)
    return totals


def test_both_kinds_count_until_an_administrator_chooses(history):
    ada, bob = history
    assert revenue_sources() == "both"
    assert counted_kinds() == ("shop", "deal")
    assert Order.objects.get(contact=bob).kind == "deal"
    assert _customers() == {ada.pk: 30.0, bob.pk: 500.0}
    assert measure("revenue_per_customer").numerator == pytest.approx(530)


@pytest.mark.parametrize(
    ("sources", "who", "revenue"),
    [("shop", "ada", 30), ("deals", "bob", 500)],
)
def test_the_setting_is_honoured_by_the_analytics_and_the_value_kpis(
    history, admin_user, sources, who, revenue
):
    ada, bob = history
    set_revenue_sources(actor=admin_user, sources=sources)
    contact = {"ada": ada, "bob": bob}[who]
    assert _customers() == {contact.pk: float(revenue)}
    result = measure("revenue_per_customer")
    assert (result.numerator, result.denominator) == pytest.approx((revenue, 1))
    assert list(Order.objects.counted_as_revenue().values_list("contact", flat=True)) == [
        contact.pk
    ]


def test_only_administrators_choose_and_the_choice_is_audited(admin_user, owner, read_only_user):
    for someone in (owner, read_only_user):
        with pytest.raises(PermissionDenied):
            set_revenue_sources(actor=someone, sources="shop")
    assert not RevenueSettings.objects.exists()
    with pytest.raises(ValidationError) as caught:
        set_revenue_sources(actor=admin_user, sources="everything")
    assert "Shop orders only (shop)" in caught.value.message_dict["sources"][0]
    set_revenue_sources(actor=admin_user, sources="shop")
    set_revenue_sources(actor=admin_user, sources="deals")
    records = ChangeRecord.objects.filter(entity="commerce.revenuesettings").order_by("id")
    assert [(r.action, r.after["sources"]) for r in records] == [
        ("create", "shop"),
        ("update", "deals"),
    ]
    assert records[1].before == {"sources": "shop"}


def test_the_settings_page(web_client_for, admin_user, owner):
    assert web_client_for(owner).get("/commerce/revenue/").status_code == 403
    client = web_client_for(admin_user)
    page = client.get("/commerce/revenue/")
    assert page.status_code == 200
    assert "Shop orders and won deals" in page.content.decode()
    assert page.context["form"].initial == {"sources": "both"}
    saved = client.post("/commerce/revenue/", {"sources": "deals"})
    assert saved.status_code == 302
    assert revenue_sources() == "deals"
    refused = client.post("/commerce/revenue/", {"sources": "nonsense"})
    assert refused.status_code == 422
    assert "Select a valid choice." in refused.content.decode()
    rates_page = client.get("/commerce/exchange-rates/").content.decode()
    assert 'href="/commerce/revenue/"' in rates_page


def test_the_settings_api(api_client_for, admin_user, owner):
    reader = api_client_for(owner)
    assert reader.get("/api/v1/revenue-settings").json() == {
        "sources": "both",
        "counted_kinds": ["shop", "deal"],
    }
    body = json.dumps({"sources": "shop"})
    refused = reader.put("/api/v1/revenue-settings", body, content_type="application/json")
    assert refused.status_code == 403
    admin = api_client_for(admin_user)
    saved = admin.put("/api/v1/revenue-settings", body, content_type="application/json")
    assert saved.json() == {"sources": "shop", "counted_kinds": ["shop"]}
    wrong = admin.put(
        "/api/v1/revenue-settings",
        json.dumps({"sources": "all"}),
        content_type="application/json",
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "body.sources"
