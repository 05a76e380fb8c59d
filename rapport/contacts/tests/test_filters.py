import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils import timezone

from rapport.contacts import services
from rapport.contacts.filters import (
    CONTACT_ORDERINGS,
    DEFAULT_CONTACT_ORDERING,
    ORGANIZATION_ORDERINGS,
    filter_contacts,
    filter_organizations,
    resolve_ordering,
)
from rapport.contacts.models import Contact, Organization
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core.pagination import CursorError, keyset_page
from rapport.customfields.services import create_definition

pytestmark = pytest.mark.django_db


def names(queryset):
    return sorted(c.first_name or c.name for c in queryset)


def contact_names(params, user):
    return sorted(c.first_name for c in filter_contacts(Contact.objects.all(), params, user))


def errors_of(params, user, function=filter_contacts, model=Contact):
    with pytest.raises(ValidationError) as excinfo:
        list(function(model.objects.all(), params, user))
    return excinfo.value.message_dict


def test_default_shows_active_contacts_and_archived_param_switches(owner):
    make_contact(actor=owner, owner=owner, first_name="Active")
    gone = make_contact(actor=owner, owner=owner, first_name="Gone")
    services.archive_contact(actor=owner, contact=gone)

    assert contact_names({}, owner) == ["Active"]
    assert contact_names({"archived": "false"}, owner) == ["Active"]
    assert contact_names({"archived": "true"}, owner) == ["Gone"]
    assert contact_names({"archived": "all"}, owner) == ["Active", "Gone"]
    assert errors_of({"archived": "maybe"}, owner) == {
        "archived": ['Give "true", "false" or "all".']
    }


def test_results_are_scoped_to_the_user(owner, teammate, outsider):
    make_contact(actor=owner, owner=owner, first_name="Mine")
    make_contact(actor=outsider, owner=outsider, first_name="Theirs")

    assert contact_names({}, owner) == ["Mine"]
    assert contact_names({}, teammate) == ["Mine"]
    assert contact_names({}, outsider) == ["Theirs"]
    assert contact_names({"q": "theirs"}, owner) == []


def test_search_by_name_email_and_organization(owner):
    acme = make_organization(actor=owner, owner=owner, name="Acme Tools")
    make_contact(actor=owner, owner=owner, first_name="Grace", emails=["grace@hopper.example"])
    make_contact(actor=owner, owner=owner, first_name="Alan", organization=acme)

    assert contact_names({"q": "grace"}, owner) == ["Grace"]
    assert contact_names({"q": "hopper.example"}, owner) == ["Grace"]
    assert contact_names({"q": "acme"}, owner) == ["Alan"]
    assert contact_names({"q": "  "}, owner) == ["Alan", "Grace"]
    assert errors_of({"q": "x" * 201}, owner) == {"q": ["Use at most 200 characters."]}


def test_owner_me_none_and_id(owner, teammate):
    make_contact(actor=owner, owner=owner, first_name="Mine")
    make_contact(actor=owner, owner=teammate, first_name="Teammates")
    make_contact(actor=owner, owner=None, first_name="Nobodys")

    # Nobody's contacts are outside a team scope, so an admin-less owner does not see them.
    assert contact_names({"owner": "me"}, owner) == ["Mine"]
    assert contact_names({"owner": str(teammate.pk)}, owner) == ["Teammates"]
    assert contact_names({"owner": ["me", str(teammate.pk)]}, owner) == ["Mine", "Teammates"]
    assert contact_names({"owner": "none"}, owner) == []
    assert errors_of({"owner": "someone"}, owner) == {"owner": ['Give a user id, "me" or "none".']}
    assert errors_of({"owner": "-3"}, owner) == {"owner": ['Give a user id, "me" or "none".']}


def test_owner_none_for_a_user_who_sees_all(admin_user, owner):
    make_contact(actor=admin_user, owner=None, first_name="Nobodys")
    make_contact(actor=admin_user, owner=owner, first_name="Owned")

    assert contact_names({"owner": "none"}, admin_user) == ["Nobodys"]


def test_lifecycle_stage_one_or_several(owner):
    make_contact(actor=owner, owner=owner, first_name="Lead", lifecycle_stage="lead")
    make_contact(actor=owner, owner=owner, first_name="Customer", lifecycle_stage="customer")
    make_contact(actor=owner, owner=owner, first_name="Churned", lifecycle_stage="churned")

    assert contact_names({"lifecycle_stage": "lead"}, owner) == ["Lead"]
    assert contact_names({"lifecycle_stage": "lead,customer"}, owner) == ["Customer", "Lead"]
    query = QueryDict("lifecycle_stage=churned&lifecycle_stage=customer")
    assert contact_names(query, owner) == ["Churned", "Customer"]
    errors = errors_of({"lifecycle_stage": "lead,prospect"}, owner)
    assert list(errors) == ["lifecycle_stage"]
    assert errors["lifecycle_stage"][0].startswith("'prospect' is not one of: subscriber, lead")


def test_tag_matches_without_case_and_any_of_several(owner):
    make_contact(actor=owner, owner=owner, first_name="Both", tags=["VIP", "Press"])
    make_contact(actor=owner, owner=owner, first_name="Vip", tags=["VIP"])
    make_contact(actor=owner, owner=owner, first_name="None")

    assert contact_names({"tag": "vip"}, owner) == ["Both", "Vip"]
    assert contact_names({"tag": ["press", "vip"]}, owner) == ["Both", "Vip"]  # no duplicates
    assert contact_names({"tag": "unknown"}, owner) == []


def test_organization_source_and_country(owner):
    acme = make_organization(actor=owner, owner=owner, name="Acme")
    make_contact(actor=owner, owner=owner, first_name="Member", organization=acme, country="de")
    make_contact(actor=owner, owner=owner, first_name="Imported", source="import", country="FR")

    assert contact_names({"organization": str(acme.pk)}, owner) == ["Member"]
    assert contact_names({"source": "import"}, owner) == ["Imported"]
    assert contact_names({"country": "de"}, owner) == ["Member"]
    assert contact_names({"country": "DE,FR"}, owner) == ["Imported", "Member"]
    errors = errors_of({"organization": "acme", "source": "fax", "country": "Germany"}, owner)
    assert errors["organization"] == ["Give organization ids."]
    assert errors["source"][0].startswith("'fax' is not one of: manual")
    assert errors["country"] == ["Use two-letter ISO country codes, e.g. DE."]


def test_created_between_dates_includes_both_days(owner):
    days = {"Early": "2024-01-01", "Middle": "2024-01-15", "Late": "2024-01-31"}
    for name, day in days.items():
        contact = make_contact(actor=owner, owner=owner, first_name=name)
        moment = timezone.make_aware(dt.datetime.fromisoformat(f"{day}T23:30:00"))
        Contact.objects.filter(pk=contact.pk).update(created_at=moment)

    params = {"created_after": "2024-01-15", "created_before": "2024-01-31"}
    assert contact_names(params, owner) == ["Late", "Middle"]
    assert contact_names({"created_before": "2024-01-14"}, owner) == ["Early"]
    exact = {"created_after": "2024-01-15T23:30:00+00:00"}
    assert contact_names(exact, owner) == ["Late", "Middle"]
    errors = errors_of({"created_after": "15/01/2024", "created_before": "2024-02-30"}, owner)
    assert set(errors) == {"created_after", "created_before"}


@pytest.fixture
def contact_fields(admin_user):
    definitions = {}
    specs = [
        ("region", "text", {}),
        ("tier", "choice", {"choices": ["Gold", "Silver"]}),
        ("interests", "multi_choice", {"choices": ["Golf", "Sailing", "Grün"]}),
        ("newsletter", "boolean", {}),
        ("employees", "number", {}),
        ("budget", "decimal", {}),
        ("renewal", "date", {}),
    ]
    for key, field_type, options in specs:
        definitions[key] = create_definition(
            actor=admin_user,
            entity="contact",
            key=key,
            label=key.title(),
            field_type=field_type,
            **options,
        )
    return definitions


@pytest.fixture
def three_contacts(owner, contact_fields):
    make_contact(
        actor=owner,
        owner=owner,
        first_name="Anna",
        custom_fields={
            "region": "North Rhine",
            "tier": "Gold",
            "interests": ["Golf", "Grün"],
            "newsletter": True,
            "employees": 9,
            "budget": "9.50",
            "renewal": "2025-03-01",
        },
    )
    make_contact(
        actor=owner,
        owner=owner,
        first_name="Bert",
        custom_fields={
            "region": "Bavaria",
            "tier": "Silver",
            "interests": ["Sailing"],
            "newsletter": False,
            "employees": 120,
            "budget": "10.00",
            "renewal": "2025-12-31",
        },
    )
    make_contact(actor=owner, owner=owner, first_name="Cleo")


def test_custom_field_text_choice_and_boolean(owner, three_contacts):
    assert contact_names({"cf_region": "rhine"}, owner) == ["Anna"]
    assert contact_names({"cf_tier": "silver"}, owner) == ["Bert"]
    assert contact_names({"cf_newsletter": "true"}, owner) == ["Anna"]
    assert contact_names({"cf_newsletter": "no"}, owner) == ["Bert"]


def test_custom_field_multi_choice_contains(owner, three_contacts):
    assert contact_names({"cf_interests": "golf"}, owner) == ["Anna"]
    assert contact_names({"cf_interests": "Grün"}, owner) == ["Anna"]
    assert contact_names({"cf_interests": "Sailing"}, owner) == ["Bert"]
    assert contact_names({"cf_interests": "Golf;Sailing"}, owner) == []


def test_custom_field_ranges_compare_numbers_not_text(owner, three_contacts):
    assert contact_names({"cf_employees": "120"}, owner) == ["Bert"]
    assert contact_names({"cf_employees__gte": "10"}, owner) == ["Bert"]
    assert contact_names({"cf_employees__lte": "100"}, owner) == ["Anna"]
    # As text "9.50" > "10.00"; as numbers it is smaller.
    assert contact_names({"cf_budget__gte": "9.75"}, owner) == ["Bert"]
    assert contact_names({"cf_budget__lte": "9.75"}, owner) == ["Anna"]
    assert contact_names({"cf_budget": "10"}, owner) == ["Bert"]
    assert contact_names({"cf_renewal__gte": "2025-06-01"}, owner) == ["Bert"]
    assert contact_names({"cf_renewal__lte": "2025-06-01"}, owner) == ["Anna"]
    assert contact_names({"cf_renewal": "2025-03-01"}, owner) == ["Anna"]


def test_custom_field_errors_name_the_parameter(owner, three_contacts):
    errors = errors_of(
        {
            "cf_unknown": "x",
            "cf_tier": "Bronze",
            "cf_employees": "many",
            "cf_region__gte": "a",
            "cf_renewal__between": "2025-01-01",
            "cf_renewal__lte": "tomorrow",
        },
        owner,
    )
    assert errors == {
        "cf_employees": ["Enter a whole number."],
        "cf_region__gte": ["Only number, decimal and date fields take __gte / __lte."],
        "cf_renewal__between": ["Use cf_<key>, cf_<key>__gte or cf_<key>__lte."],
        "cf_renewal__lte": ["Enter a date as YYYY-MM-DD."],
        "cf_tier": ["Choose one of: Gold, Silver."],
        "cf_unknown": ["Unknown custom field."],
    }


def test_inactive_custom_field_is_unknown(owner, admin_user, three_contacts, contact_fields):
    from rapport.customfields.services import update_definition

    update_definition(actor=admin_user, definition=contact_fields["tier"], is_active=False)
    assert errors_of({"cf_tier": "Gold"}, owner) == {"cf_tier": ["Unknown custom field."]}


def test_organization_filters(owner, admin_user):
    create_definition(
        actor=admin_user,
        entity="organization",
        key="segment",
        label="Segment",
        field_type="choice",
        choices=["SMB", "Enterprise"],
    )
    make_organization(
        actor=owner,
        owner=owner,
        name="Acme",
        industry="Machine tools",
        size="51-200",
        country="DE",
        tags=["Partner"],
        custom_fields={"segment": "Enterprise"},
    )
    make_organization(actor=owner, owner=owner, name="Bolt", industry="Retail", size="1-10")

    def org_names(params):
        return sorted(
            o.name for o in filter_organizations(Organization.objects.all(), params, owner)
        )

    assert org_names({}) == ["Acme", "Bolt"]
    assert org_names({"industry": "machine"}) == ["Acme"]
    assert org_names({"size": "1-10"}) == ["Bolt"]
    assert org_names({"tag": "partner"}) == ["Acme"]
    assert org_names({"country": "de"}) == ["Acme"]
    assert org_names({"q": "bol"}) == ["Bolt"]
    assert org_names({"cf_segment": "enterprise"}) == ["Acme"]
    errors = errors_of(
        {"size": "huge", "cf_tier": "Gold"}, owner, filter_organizations, Organization
    )
    assert set(errors) == {"size", "cf_tier"}


def test_single_valued_parameter_given_twice_is_an_error(owner):
    assert errors_of(QueryDict("q=a&q=b"), owner) == {"q": ["Give this filter once."]}


def test_resolve_ordering():
    assert resolve_ordering("", CONTACT_ORDERINGS, DEFAULT_CONTACT_ORDERING) == (
        "name",
        CONTACT_ORDERINGS["name"],
    )
    assert resolve_ordering("-created_at", ORGANIZATION_ORDERINGS, "name")[1].descending
    with pytest.raises(ValidationError) as excinfo:
        resolve_ordering("email", CONTACT_ORDERINGS, "name")
    assert list(excinfo.value.message_dict) == ["ordering"]


@pytest.mark.parametrize("ordering", sorted(CONTACT_ORDERINGS))
def test_keyset_pages_walk_every_contact_once_in_order(owner, ordering):
    # Repeated last and first names force the composite key to break ties on the pk.
    for index in range(23):
        make_contact(
            actor=owner,
            owner=owner,
            first_name=["Ann", "Bob", "Ann"][index % 3],
            last_name=["Smith", "Jones"][index % 2],
        )
    fields, descending = CONTACT_ORDERINGS[ordering]
    queryset = filter_contacts(Contact.objects.all(), {}, owner).with_sort_keys(fields)
    prefix = "-" if descending else ""
    expected = list(
        queryset.order_by(*[prefix + f for f in fields], prefix + "pk").values_list("pk", flat=True)
    )
    seen, cursor = [], None
    for _ in range(10):
        page = keyset_page(
            queryset, order_fields=fields, descending=descending, cursor=cursor, limit=5
        )
        seen.extend(c.pk for c in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected
    assert len(seen) == 23


def test_cursor_from_another_ordering_or_damaged_is_refused(owner):
    for index in range(3):
        make_contact(actor=owner, owner=owner, first_name=f"N{index}")
    queryset = Contact.objects.all()
    page = keyset_page(queryset, order_fields=("last_name", "first_name"), cursor=None, limit=1)
    assert page.next_cursor
    with pytest.raises(CursorError, match="another ordering"):
        keyset_page(queryset, order_fields=("created_at",), cursor=page.next_cursor, limit=1)
    with pytest.raises(CursorError, match="not valid"):
        keyset_page(queryset, order_fields=("last_name", "first_name"), cursor="abc", limit=1)
    with pytest.raises(CursorError, match="not valid"):
        keyset_page(queryset, order_fields=("last_name",), cursor="x" * 3000, limit=1)
