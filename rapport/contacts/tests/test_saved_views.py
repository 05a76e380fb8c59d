"""The lists' row count, column chooser and saved views (services and pages)."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from rapport.audit.models import ChangeRecord
from rapport.contacts import saved_views
from rapport.contacts.models import ListKind, ListPreference, SavedView
from rapport.contacts.tests.factories import make_contact, make_organization

pytestmark = pytest.mark.django_db

CONTACTS = reverse("contacts:contact_list")
ORGANIZATIONS = reverse("contacts:organization_list")


@pytest.fixture
def client(owner, web_client_for):
    return web_client_for(owner)


def save_view(actor, name="Hot leads", **overrides):
    fields = {
        "list_kind": ListKind.CONTACTS,
        "name": name,
        "query": "lifecycle_stage=lead&sort=-created_at&after=abc",
        "columns": "name,email,lifecycle",
        "sort": "-created_at",
    }
    fields.update(overrides)
    return saved_views.create_saved_view(actor=actor, **fields)


def header_labels(response) -> list[str]:
    return [cell["column"].label for cell in response.context["headers"]]


# -- services ------------------------------------------------------------------------------------
def test_a_saved_view_keeps_filters_columns_and_sort_but_not_the_page(owner):
    view = save_view(owner)

    assert view.filters == {"lifecycle_stage": ["lead"]}
    assert view.columns == ["name", "email", "lifecycle"]
    assert view.sort == "-created_at"
    assert view.owner == owner and not view.is_shared
    assert ChangeRecord.objects.filter(entity="contacts.savedview", object_id=str(view.pk)).count()


def test_a_view_with_a_filter_the_list_refuses_is_not_saved(owner):
    with pytest.raises(ValidationError) as error:
        save_view(owner, query="lifecycle_stage=nonsense")

    assert "lifecycle_stage" in error.value.message_dict
    assert not SavedView.objects.exists()


def test_names_are_unique_per_owner_and_list(owner, teammate):
    save_view(owner)
    save_view(teammate)  # another owner may use the same name

    with pytest.raises(ValidationError) as error:
        save_view(owner)

    assert error.value.message_dict == {"name": ["You already have a view with this name."]}


def test_only_the_owner_or_an_administrator_changes_or_deletes_a_shared_view(
    owner, teammate, admin_user
):
    view = save_view(owner, is_shared=True)

    with pytest.raises(PermissionDenied):
        saved_views.update_saved_view(actor=teammate, view=view, name="Mine now")
    with pytest.raises(PermissionDenied):
        saved_views.delete_saved_view(actor=teammate, view=view)
    view.refresh_from_db()
    assert view.name == "Hot leads"

    saved_views.update_saved_view(actor=admin_user, view=view, name="Renamed")
    view.refresh_from_db()
    assert view.name == "Renamed"
    saved_views.delete_saved_view(actor=owner, view=view)
    assert not SavedView.objects.exists()


def test_a_read_only_role_cannot_save_views(viewer):
    with pytest.raises(PermissionDenied):
        save_view(viewer)
    assert not SavedView.objects.exists()


def test_a_default_view_must_be_one_the_user_may_see(owner, teammate):
    private = save_view(teammate)

    with pytest.raises(ValidationError):
        saved_views.set_default_view(actor=owner, list_kind=ListKind.CONTACTS, view=private)
    assert not ListPreference.objects.filter(user=owner).exists()


# -- the row count ---------------------------------------------------------------------------------
def test_the_list_says_how_many_contacts_the_filters_select(client, owner, teammate, outsider):
    for number in range(53):
        make_contact(actor=owner, owner=owner, first_name=f"L{number}", lifecycle_stage="lead")
    make_contact(actor=owner, owner=owner, lifecycle_stage="customer")
    make_contact(actor=outsider, owner=outsider, lifecycle_stage="lead")  # not in owner's scope

    html = client.get(CONTACTS, {"lifecycle_stage": "lead"}).content.decode()

    assert '<p class="list-count" role="status">53 contacts' in html


def test_the_count_says_more_than_the_cap_honestly(client, owner, monkeypatch):
    monkeypatch.setattr("rapport.contacts.tables.COUNT_CAP", 3)
    make_organization(actor=owner, owner=owner, name="A")
    for number in range(52):
        make_organization(actor=owner, owner=owner, name=f"Org {number}")

    html = client.get(ORGANIZATIONS).content.decode()

    assert '<p class="list-count" role="status">More than 3 organizations' in html


# -- the column chooser ----------------------------------------------------------------------------
def test_choosing_columns_reorders_them_and_is_remembered(client, owner):
    make_contact(actor=owner, owner=owner, emails=["ada@example.com"])

    response = client.post(
        reverse("contacts:list_columns"),
        {
            "list_kind": "contacts",
            "order": ["name", "lifecycle", "email", "phone"],
            "columns": ["lifecycle", "email"],
            "move": "email",
            "next": f"{CONTACTS}?q=ada&after=xyz",
        },
    )

    assert response.status_code == 302
    assert response.url == f"{CONTACTS}?q=ada&columns=name%2Cemail%2Clifecycle"
    assert ListPreference.objects.get(user=owner).columns == ["name", "email", "lifecycle"]
    remembered = client.get(CONTACTS, {"view": "all"})
    assert header_labels(remembered) == ["Name", "Email", "Stage"]
    assert "ada@example.com</td>" in remembered.content.decode()


def test_hidden_columns_are_not_fetched(client, owner):
    org = make_organization(actor=owner, owner=owner)
    for number in range(5):
        make_contact(
            actor=owner, owner=owner, organization=org, tags=["a"], first_name=f"N{number}"
        )
    url = f"{CONTACTS}?columns=name,lifecycle"
    client.get(url)
    full = client.get(CONTACTS, {"view": "all"})

    response = client.get(url)

    assert header_labels(response) == ["Name", "Stage"]
    assert not hasattr(response.context["page"].items[0], "listed_tags")
    assert not hasattr(response.context["page"].items[0], "primary_memberships")
    assert full.context["rows"][0].organization is not None


def test_columns_of_the_other_list_are_its_own(client, owner):
    make_organization(actor=owner, owner=owner, name="Acme", size="51-200")
    client.post(
        reverse("contacts:list_columns"),
        {"list_kind": "organizations", "order": ["name", "size"], "columns": ["size"]},
    )

    organizations = client.get(ORGANIZATIONS, {"view": "all"})
    contacts = client.get(CONTACTS, {"view": "all"})

    assert header_labels(organizations) == ["Name", "Size"]
    assert "Stage" in header_labels(contacts)


# -- saved views on the page -----------------------------------------------------------------------
def test_saving_a_view_from_the_list_and_applying_it(client, owner):
    make_contact(actor=owner, owner=owner, first_name="Lead", lifecycle_stage="lead")
    make_contact(actor=owner, owner=owner, first_name="Customer", lifecycle_stage="customer")

    response = client.post(
        reverse("contacts:saved_view_create"),
        {
            "list_kind": "contacts",
            "name": "Leads",
            "query": "lifecycle_stage=lead&sort=-name",
            "columns": "name,owner",
        },
    )

    view = SavedView.objects.get()
    assert response.status_code == 302 and response.url == view.get_absolute_url()
    applied = client.get(response.url)
    assert [row.contact.first_name for row in applied.context["rows"]] == ["Lead"]
    assert header_labels(applied) == ["Name", "Owner"]
    assert applied.context["sort"] == "-name"
    html = applied.content.decode()
    assert f'href="{view.get_absolute_url().replace("&", "&amp;")}" aria-current="true">Leads' in (
        html
    )


def test_a_shared_view_shares_filters_never_records(owner, teammate, outsider, web_client_for):
    make_contact(actor=owner, owner=owner, first_name="Ours", lifecycle_stage="lead")
    make_contact(actor=outsider, owner=outsider, first_name="Theirs", lifecycle_stage="lead")
    view = save_view(owner, is_shared=True, columns="")

    theirs = web_client_for(outsider).get(view.get_absolute_url())

    assert theirs.status_code == 200
    assert [row.contact.first_name for row in theirs.context["rows"]] == ["Theirs"]
    html = theirs.content.decode()
    assert "Hot leads" in html and "shared by" in html
    assert "Save the list as shown" not in html  # outsider may not change it


def test_a_personal_view_is_not_listed_or_applied_for_others(owner, outsider, web_client_for):
    view = save_view(owner)

    response = web_client_for(outsider).get(view.get_absolute_url())

    assert response.context["saved_view"] is None
    assert "Hot leads" not in response.content.decode()


def test_updating_a_view_from_the_list(client, owner):
    view = save_view(owner)

    response = client.post(
        reverse("contacts:saved_view_update", args=[view.pk]),
        {"query": "lifecycle_stage=customer&sort=name", "columns": "name,phone"},
    )

    view.refresh_from_db()
    assert response.status_code == 302
    assert view.filters == {"lifecycle_stage": ["customer"]}
    assert view.columns == ["name", "phone"] and view.sort == "name"


def test_another_user_cannot_change_or_delete_a_shared_view(owner, teammate, web_client_for):
    view = save_view(owner, is_shared=True)
    other = web_client_for(teammate)

    changed = other.post(reverse("contacts:saved_view_update", args=[view.pk]), {"name": "X"})
    deleted = other.post(reverse("contacts:saved_view_delete", args=[view.pk]))

    assert changed.status_code == 403 and deleted.status_code == 403
    view.refresh_from_db()
    assert view.name == "Hot leads"


def test_deleting_a_view(client, owner):
    view = save_view(owner)

    response = client.post(reverse("contacts:saved_view_delete", args=[view.pk]))

    assert response.status_code == 302 and response.url == f"{CONTACTS}?view=all"
    assert not SavedView.objects.exists()


def test_the_default_view_opens_with_the_bare_list(client, owner):
    view = save_view(owner)
    client.post(reverse("contacts:saved_view_default"), {"list_kind": "contacts", "view": view.pk})

    opened = client.get(CONTACTS)
    plain = client.get(CONTACTS, {"view": "all"})

    assert opened.status_code == 302 and opened.url == view.get_absolute_url()
    assert plain.status_code == 200 and plain.context["saved_view"] is None
    client.post(reverse("contacts:saved_view_default"), {"list_kind": "contacts", "view": ""})
    assert client.get(CONTACTS).status_code == 200


def test_a_filter_change_keeps_the_views_columns(client, owner):
    make_contact(actor=owner, owner=owner, lifecycle_stage="lead")
    view = save_view(owner)

    html = client.get(view.get_absolute_url()).content.decode()

    assert (
        '<input type="hidden" name="columns" value="name,email,lifecycle" form="contact-filters">'
        in html
    )
