import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rapport.analytics import segments, services
from rapport.analytics.models import CustomerAnalytics, SegmentMember
from rapport.commerce.tests.factories import make_order, make_product
from rapport.contacts.tests.factories import make_contact
from rapport.core.conditions import ConditionError
from rapport.customfields.services import create_definition
from rapport.interactions.services import log_interaction

pytestmark = pytest.mark.django_db


def ago(days):
    return timezone.now() - dt.timedelta(days=days)


@pytest.fixture
def people(owner, admin_user):
    create_definition(
        actor=admin_user, entity="contact", key="region", label="Region", field_type="text"
    )
    create_definition(
        actor=admin_user, entity="contact", key="renewal", label="Renewal", field_type="date"
    )
    books = make_product(sku="BK", category="Books", price="30.00")
    garden = make_product(sku="GD", category="Garden", price="80.00")
    ada = make_contact(
        owner=owner,
        first_name="Ada",
        country="DE",
        tags=["vip"],
        custom_fields={"region": "North", "renewal": "2026-03-01"},
    )
    bob = make_contact(
        owner=owner,
        first_name="Bob",
        tags=["VIP", "press"],
        custom_fields={"renewal": "2025-01-15"},
    )
    cyd = make_contact(owner=owner, first_name="Cyd", country="FR")
    dee = make_contact(owner=owner, first_name="Dee", lifecycle_stage="subscriber")
    make_order(contact=ada, ordered_at=ago(10), lines=[{"product": books}])
    make_order(contact=ada, ordered_at=ago(12), lines=[{"product": books, "quantity": 2}])
    make_order(contact=bob, ordered_at=ago(200), lines=[{"product": books}])
    make_order(contact=cyd, ordered_at=ago(30), lines=[{"product": garden}])
    # Refunded: must not count as having bought garden things.
    make_order(contact=dee, ordered_at=ago(5), lines=[{"product": garden}], status="refunded")
    log_interaction(actor=owner, kind="call", contact=ada, occurred_at=ago(5))
    log_interaction(actor=owner, kind="email", contact=cyd, occurred_at=ago(100))
    for contact, tier, clv in ((ada, "gold", "500.00"), (bob, "bronze", "20.00")):
        CustomerAnalytics.objects.create(
            contact=contact,
            computed_on=timezone.localdate(),
            first_order_date=timezone.localdate(),
            last_order_date=timezone.localdate(),
            cohort_month=timezone.localdate().replace(day=1),
            orders_count=1,
            revenue_total=clv,
            average_order_value=clv,
            recency_days=0,
            repeat_purchases=0,
            r_score=5,
            f_score=1,
            m_score=1,
            fm_score=1,
            segment="New",
            predicted_clv=clv,
            p_alive=0.9 if tier == "gold" else 0.2,
            value_tier=tier,
            is_at_risk=tier == "bronze",
        )
    return {"Ada": ada, "Bob": bob, "Cyd": cyd, "Dee": dee}


def who(conditions, user):
    return set(segments.matching_contacts(conditions, user).values_list("first_name", flat=True))


def leaf(field, op, value=None):
    part = {"field": field, "op": op}
    if value is not None:
        part["value"] = value
    return part


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (leaf("orders.category_90_days", "eq", "books"), {"Ada"}),
        (leaf("orders.category_365_days", "eq", "Books"), {"Ada", "Bob"}),
        (leaf("orders.category_ever", "ne", "Books"), {"Cyd", "Dee"}),
        (leaf("orders.category_30_days", "in", ["Garden", "Toys"]), set()),
        (leaf("orders.category_90_days", "in", ["Garden", "Toys"]), {"Cyd"}),
        (leaf("orders.sku_ever", "eq", "gd"), {"Cyd"}),
        (leaf("orders.count_365_days", "gte", 2), {"Ada"}),
        (leaf("orders.count_365_days", "eq", 0), {"Dee"}),
        (leaf("orders.revenue_365_days", "gt", 50), {"Ada", "Cyd"}),
        (leaf("interactions.days_since_touch", "gt", 60), {"Bob", "Cyd", "Dee"}),
        (leaf("interactions.days_since_touch", "lte", 60), {"Ada"}),
        (leaf("interactions.channel_90_days", "eq", "phone"), {"Ada"}),
        (leaf("interactions.count_90_days", "eq", 0), {"Bob", "Cyd", "Dee"}),
        (leaf("tags", "eq", "vip"), {"Ada", "Bob"}),
        (leaf("tags", "ne", "vip"), {"Cyd", "Dee"}),
        (leaf("tags", "is_empty"), {"Cyd", "Dee"}),
        (leaf("country", "eq", "de"), {"Ada"}),
        (leaf("lifecycle_stage", "in", ["subscriber"]), {"Dee"}),
        (leaf("custom.region", "eq", "north"), {"Ada"}),
        (leaf("custom.region", "is_empty"), {"Bob", "Cyd", "Dee"}),
        (leaf("custom.renewal", "lt", "2026-01-01"), {"Bob"}),
        (leaf("analytics.value_tier", "eq", "gold"), {"Ada"}),
        (leaf("analytics.predicted_clv", "gte", 100), {"Ada"}),
        (leaf("analytics.is_at_risk", "eq", True), {"Bob"}),
        (leaf("analytics.value_tier", "is_empty"), {"Cyd", "Dee"}),
        (
            {"all": [leaf("tags", "eq", "vip"), leaf("interactions.days_since_touch", "gt", 60)]},
            {"Bob"},
        ),
        (
            {"any": [leaf("country", "eq", "DE"), leaf("orders.category_90_days", "eq", "Garden")]},
            {"Ada", "Cyd"},
        ),
        ({"not": leaf("tags", "eq", "vip")}, {"Cyd", "Dee"}),
        ({"all": []}, {"Ada", "Bob", "Cyd", "Dee"}),
        ({"any": []}, set()),
    ],
)
def test_conditions_select_exactly_the_right_contacts(people, owner, condition, expected):
    assert who(condition, owner) == expected


def test_many_valued_fields_do_not_duplicate_members(people, owner):
    conditions = {"any": [leaf("tags", "eq", "vip"), leaf("tags", "eq", "press")]}
    matched = segments.matching_contacts(conditions, owner)
    assert matched.count() == 2
    assert sorted(matched.values_list("first_name", flat=True)) == ["Ada", "Bob"]


def test_members_are_scoped_to_the_viewer(people, owner, outsider, teammate):
    conditions = leaf("tags", "eq", "vip")
    assert who(conditions, outsider) == set()
    assert who(conditions, teammate) == {"Ada", "Bob"}


@pytest.mark.parametrize(
    ("condition", "path", "message"),
    [
        (leaf("nope", "eq", "x"), "$.field", "unknown field 'nope'"),
        (leaf("lifecycle_stage", "gt", "lead"), "$.op", "'gt' cannot be used with Lifecycle stage"),
        (leaf("analytics.predicted_clv", "gt", "lots"), "$.value", "must be a number"),
        (leaf("analytics.is_at_risk", "eq", "yes"), "$.value", "must be true or false"),
        ({"all": [leaf("orders.category_90_days", "eq", "")]}, "$.all[0].value", "must be text"),
        ({"all": {"field": "x"}}, "$.all", "must be a list of conditions"),
    ],
)
def test_bad_conditions_name_the_offending_part(people, condition, path, message):
    with pytest.raises(ConditionError) as error:
        segments.check_conditions(condition)
    assert error.value.path == path
    assert message in error.value.message


def test_dynamic_segment_service_and_members(people, owner, teammate):
    segment = services.create_segment(
        actor=owner, name="VIP readers", conditions={"all": [leaf("tags", "eq", "vip")]}
    )
    assert set(segments.members(segment, teammate).values_list("first_name", flat=True)) == {
        "Ada",
        "Bob",
    }
    assert segments.contains(segment, people["Ada"], owner)
    assert not segments.contains(segment, people["Cyd"], owner)
    with pytest.raises(ValidationError) as error:
        services.create_segment(actor=owner, name="vip READERS", conditions={"all": []})
    assert error.value.message_dict == {"name": ["Another segment already has this name."]}
    with pytest.raises(ValidationError) as error:
        services.create_segment(
            actor=owner, name="Broken", conditions={"all": [leaf("x", "eq", 1)]}
        )
    assert error.value.message_dict == {"conditions.all[0].field": ["unknown field 'x'"]}
    with pytest.raises(PermissionDenied):
        services.update_segment(actor=teammate, segment=segment, name="Mine now")


def test_static_list_add_remove_and_freeze(people, owner, outsider):
    hidden = make_contact(owner=outsider, first_name="Hidden")
    target = services.create_segment(actor=owner, name="Call list", kind="static")
    assert (
        services.add_to_list(
            actor=owner, segment=target, contact_ids=[people["Ada"].pk, people["Cyd"].pk]
        )
        == 2
    )
    assert services.add_to_list(actor=owner, segment=target, contact_ids=[people["Ada"].pk]) == 0
    with pytest.raises(ValidationError):
        services.add_to_list(actor=owner, segment=target, contact_ids=[hidden.pk])
    assert SegmentMember.objects.filter(segment=target).count() == 2
    assert (
        services.remove_from_list(actor=owner, segment=target, contact_ids=[people["Cyd"].pk]) == 1
    )
    assert set(segments.members(target, owner).values_list("first_name", flat=True)) == {"Ada"}
    dynamic = services.create_segment(
        actor=owner, name="Books lately", conditions=leaf("orders.category_365_days", "eq", "Books")
    )
    frozen = services.save_members_as_list(actor=owner, segment=dynamic, name="Books snapshot")
    assert frozen.kind == "static"
    assert set(segments.members(frozen, owner).values_list("first_name", flat=True)) == {
        "Ada",
        "Bob",
    }


def test_merge_moves_list_membership(people, owner):
    target = services.create_segment(actor=owner, name="List", kind="static")
    services.add_to_list(actor=owner, segment=target, contact_ids=[people["Bob"].pk])
    services.move_list_memberships(loser=people["Bob"], survivor=people["Ada"], actor=owner)
    assert list(SegmentMember.objects.values_list("contact__first_name", flat=True)) == ["Ada"]
    assert not CustomerAnalytics.objects.filter(contact=people["Bob"]).exists()
