import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory

from rapport.audit.views import HISTORY_SHOWN, history_panel_context
from rapport.contacts import services as contacts
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core import registry

pytestmark = pytest.mark.django_db


def request_for(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


def test_the_history_panel_is_registered_on_both_360_pages():
    for entity in ("contact", "organization"):
        [panel] = [p for p in registry.panels[entity] if p.key == "history"]
        assert panel.title == "History"
        assert panel.template == "audit/history_panel.html"
        assert panel.column == "side"
        assert panel.order == 900
        assert panel.context is history_panel_context


def test_the_owner_and_teammates_see_the_history_outsiders_do_not(owner, teammate, outsider):
    contact = make_contact(actor=owner, owner=owner, first_name="Ada")
    contacts.update_contact(actor=owner, contact=contact, first_name="Augusta")

    for reader in (owner, teammate):
        context = history_panel_context(request_for(reader), contact)
        assert context is not None, reader
        assert [e["record"].action for e in context["entries"]] == ["update", "create"]
    assert history_panel_context(request_for(outsider), contact) is None


def test_an_own_scope_colleague_does_not_see_the_owners_history(owner, own_scope_role, sales_team):
    from rapport.accounts.tests.factories import UserFactory

    colleague = UserFactory(username="own-scope", role=own_scope_role, teams=[sales_team])
    contact = make_contact(actor=owner, owner=owner)

    assert history_panel_context(request_for(colleague), contact) is None


def test_the_update_row_shows_before_and_after(owner):
    contact = make_contact(actor=owner, owner=owner, first_name="Ada")
    contacts.update_contact(actor=owner, contact=contact, first_name="Augusta")

    latest = history_panel_context(request_for(owner), contact)["entries"][0]

    rows = {row["field"]: (row["before"], row["after"]) for row in latest["rows"]}
    assert rows["First name"] == ("Ada", "Augusta")


def test_changes_speak_the_users_words(owner, teammate):
    from rapport.customfields.services import create_definition

    create_definition(
        actor=None, entity="contact", key="region", label="Sales region", field_type="text"
    )
    contact = make_contact(actor=owner, owner=owner, first_name="Ada")
    contacts.update_contact(
        actor=owner,
        contact=contact,
        owner=teammate,
        lifecycle_stage="customer",
        custom_fields={"region": "North"},
    )

    latest = history_panel_context(request_for(owner), contact)["entries"][0]

    rows = {row["field"]: (row["before"], row["after"]) for row in latest["rows"]}
    assert rows["Owner"] == (str(owner), str(teammate))
    assert rows["Lifecycle stage"][1] == "Customer"
    assert rows["Sales region"] == ("—", "North")
    assert not any("_" in field for field in rows)


def test_only_administrators_get_the_link_to_the_full_log(owner, admin_user):
    contact = make_contact(actor=owner, owner=owner)

    for_owner = history_panel_context(request_for(owner), contact)
    for_admin = history_panel_context(request_for(admin_user), contact)

    assert for_owner["full_log_url"] == ""
    assert for_owner["header_link"] is None
    assert for_admin["full_log_url"] == (f"/audit/?entity=contacts.contact&object_id={contact.pk}")


def test_the_last_twenty_changes_are_shown(owner):
    contact = make_contact(actor=owner, owner=owner, first_name="v0")
    for n in range(1, HISTORY_SHOWN + 3):
        contacts.update_contact(actor=owner, contact=contact, first_name=f"v{n}")

    context = history_panel_context(request_for(owner), contact)

    assert len(context["entries"]) == HISTORY_SHOWN
    assert context["has_more"] is True
    newest = {row["field"]: row["after"] for row in context["entries"][0]["rows"]}
    assert newest["First name"] == f"v{HISTORY_SHOWN + 2}"


def test_organizations_have_a_history_too(owner, outsider):
    organization = make_organization(actor=owner, owner=owner, name="Engines Ltd")

    context = history_panel_context(request_for(owner), organization)

    assert [e["record"].action for e in context["entries"]] == ["create"]
    assert history_panel_context(request_for(outsider), organization) is None


def test_other_records_changes_are_not_mixed_in(owner):
    first = make_contact(actor=owner, owner=owner, first_name="First")
    second = make_contact(actor=owner, owner=owner, first_name="Second")
    contacts.update_contact(actor=owner, contact=second, first_name="Changed")

    context = history_panel_context(request_for(owner), first)

    assert [e["record"].object_id for e in context["entries"]] == [str(first.pk)]


def test_times_are_shown_in_the_readers_time_zone(owner):
    owner.time_zone = "Asia/Kolkata"
    owner.save()
    contact = make_contact(actor=owner, owner=owner)

    entry = history_panel_context(request_for(owner), contact)["entries"][0]

    assert entry["when"].endswith("IST")


def test_the_panel_renders_names_inert(owner, admin_user):
    contact = make_contact(actor=owner, owner=owner, first_name="<script>alert(1)</script>")
    contacts.update_contact(actor=owner, contact=contact, last_name="<img src=x onerror=alert(1)>")
    context = history_panel_context(request_for(admin_user), contact)

    html = render_to_string("audit/history_panel.html", {"ctx": context})

    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;" in html
    assert f"object_id={contact.pk}" in context["header_link"]["url"]
