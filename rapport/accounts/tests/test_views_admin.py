import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from rapport.accounts.models import ApiToken, Role, Team, User
from rapport.accounts.services import create_api_token
from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.audit.models import ChangeRecord

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script>'


@pytest.fixture
def admin_client(admin_user, web_client_for):
    return web_client_for(admin_user)


def admin_pages(user_pk, team_pk, role_pk, token_pk):
    """(method, url) of every administration page, including the ones that write."""
    return [
        ("get", reverse("accounts:admin_home")),
        ("get", reverse("accounts:user_list")),
        ("get", reverse("accounts:user_create")),
        ("post", reverse("accounts:user_create")),
        ("get", reverse("accounts:user_edit", args=[user_pk])),
        ("post", reverse("accounts:user_edit", args=[user_pk])),
        ("post", reverse("accounts:user_set_active", args=[user_pk])),
        ("post", reverse("accounts:user_token_revoke", args=[user_pk, token_pk])),
        ("get", reverse("accounts:team_list")),
        ("get", reverse("accounts:team_create")),
        ("post", reverse("accounts:team_create")),
        ("get", reverse("accounts:team_edit", args=[team_pk])),
        ("post", reverse("accounts:team_edit", args=[team_pk])),
        ("get", reverse("accounts:role_list")),
        ("get", reverse("accounts:role_create")),
        ("post", reverse("accounts:role_create")),
        ("get", reverse("accounts:role_edit", args=[role_pk])),
        ("post", reverse("accounts:role_edit", args=[role_pk])),
        ("get", reverse("customfields:definition_list")),
        ("get", reverse("customfields:definition_create")),
        ("post", reverse("customfields:definition_create")),
        ("get", reverse("audit:change_list")),
    ]


@pytest.fixture
def every_admin_page(owner, sales_team, team_scope_role):
    token, _ = create_api_token(actor=owner, user=owner, name="t")
    return admin_pages(owner.pk, sales_team.pk, team_scope_role.pk, token.pk)


def test_non_administrators_get_403_on_every_admin_page_and_nothing_changes(
    owner, web_client_for, every_admin_page
):
    client = web_client_for(owner)
    before = ChangeRecord.objects.count()
    for method, url in every_admin_page:
        data = {"name": "Hijack", "username": "x", "email": "x@example.com", "active": "0"}
        response = getattr(client, method)(url, data) if method == "post" else client.get(url)
        assert response.status_code == 403, url
    assert ChangeRecord.objects.count() == before
    owner.refresh_from_db()
    assert owner.is_active
    assert not Team.objects.filter(name="Hijack").exists()
    assert ApiToken.objects.get(user=owner).revoked_at is None


def test_anonymous_visitors_are_sent_to_sign_in(every_admin_page):
    client = Client()
    for method, url in every_admin_page:
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("accounts:login") + "?next="), url


def test_a_deactivated_administrator_is_signed_out(admin_user, web_client_for):
    client = web_client_for(admin_user)
    User.objects.filter(pk=admin_user.pk).update(is_active=False)

    response = client.get(reverse("accounts:admin_home"))

    assert response.status_code == 302


def test_admin_home_links_every_section(admin_client):
    response = admin_client.get(reverse("accounts:admin_home"))

    assert response.status_code == 200
    for name in (
        "accounts:user_list",
        "accounts:team_list",
        "accounts:role_list",
        "customfields:definition_list",
        "audit:change_list",
    ):
        assert f'href="{reverse(name)}"' in response.content.decode()


def test_the_administration_menu_entry_shows_for_administrators_only(
    admin_client, owner, web_client_for
):
    url = reverse("accounts:admin_home")
    assert f'href="{url}"' in admin_client.get(reverse("accounts:account")).content.decode()
    page = web_client_for(owner).get(reverse("accounts:account")).content.decode()
    assert f'href="{url}"' not in page


# Users -------------------------------------------------------------------------------------


def test_user_list_filters_by_search_team_role_and_status(
    admin_client, owner, teammate, outsider, sales_team, team_scope_role
):
    gone = UserFactory(username="gone", first_name="Gone", role=team_scope_role)
    gone.is_active = False
    gone.save()
    url = reverse("accounts:user_list")

    def names(**params):
        response = admin_client.get(url, params)
        assert response.status_code == 200
        return {person.username for person in response.context["page"].object_list}

    assert names() == {"owner", "teammate", "outsider", "admin"}
    assert names(team=sales_team.pk) == {"owner", "teammate"}
    assert names(role=team_scope_role.pk, status="all") == {"owner", "teammate", "outsider", "gone"}
    assert names(status="inactive") == {"gone"}
    assert names(q="outs") == {"outsider"}
    assert names(q=owner.email) == {"owner"}


def test_user_list_answers_htmx_with_the_rows_only(admin_client):
    response = admin_client.get(reverse("accounts:user_list"), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="user-rows">')
    assert "<html" not in body


def test_user_list_keeps_a_query_budget(
    admin_client, team_scope_role, sales_team, django_assert_max_num_queries
):
    for n in range(30):
        UserFactory(username=f"rep{n}", role=team_scope_role, teams=[sales_team])

    with django_assert_max_num_queries(9):
        response = admin_client.get(reverse("accounts:user_list"))

    assert response.status_code == 200
    assert len(response.context["page"].object_list) == 31


def valid_user_data(**overrides):
    data = {
        "username": "grace",
        "email": "Grace@Example.com",
        "first_name": "Grace",
        "last_name": "Hopper",
        "time_zone": "Europe/Berlin",
        "open_lead_capacity": "25",
        "password": "cobol-and-compilers-1959",
        "password_confirm": "cobol-and-compilers-1959",
    }
    data.update(overrides)
    return data


def test_create_user_through_the_form(admin_client, admin_user, team_scope_role, sales_team):
    response = admin_client.post(
        reverse("accounts:user_create"),
        valid_user_data(role=team_scope_role.pk, teams=[sales_team.pk], is_away="on"),
    )

    user = User.objects.get(username="grace")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:user_edit", args=[user.pk])
    assert user.email == "grace@example.com"
    assert user.role == team_scope_role
    assert list(user.teams.all()) == [sales_team]
    assert (user.time_zone, user.is_away, user.open_lead_capacity) == ("Europe/Berlin", True, 25)
    assert user.check_password("cobol-and-compilers-1959")
    record = ChangeRecord.objects.get(entity="accounts.user", object_id=str(user.pk))
    assert record.actor == admin_user


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"email": "owner@example.com"}, "email", "already exists"),
        ({"username": "owner"}, "username", "already exists"),
        ({"username": "bad name!"}, "username", "Enter a valid username"),
        ({"username": "x" * 151}, "username", "at most 150 characters"),
        ({"password": "123", "password_confirm": "123"}, "password", "too short"),
        ({"password_confirm": "different-passphrase"}, "password_confirm", "differ"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "Select a valid choice"),
        ({"open_lead_capacity": "-1"}, "open_lead_capacity", "greater than or equal to 0"),
        ({"open_lead_capacity": "many"}, "open_lead_capacity", "Enter a whole number"),
    ],
)
def test_invalid_user_input_shows_the_error_beside_the_field_and_writes_nothing(
    admin_client, owner, overrides, field, message
):
    users_before = User.objects.count()

    response = admin_client.post(reverse("accounts:user_create"), valid_user_data(**overrides))

    assert response.status_code == 422
    errors = response.context["form"].errors
    assert field in errors, errors
    assert any(message in error for error in errors[field]), errors[field]
    assert f'id="id_{field}_error"' in response.content.decode()
    assert User.objects.count() == users_before
    assert not ChangeRecord.objects.filter(entity="accounts.user").exists()


def test_edit_user_changes_role_teams_and_profile(admin_client, owner, other_team, own_scope_role):
    url = reverse("accounts:user_edit", args=[owner.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert page.context["form"]["email"].value() == owner.email

    response = admin_client.post(
        url,
        {
            "email": "olive@example.com",
            "first_name": "Olive",
            "last_name": owner.last_name,
            "role": own_scope_role.pk,
            "teams": [other_team.pk],
            "time_zone": "America/New_York",
        },
    )

    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.email == "olive@example.com"
    assert owner.role == own_scope_role
    assert list(owner.teams.all()) == [other_team]
    assert owner.time_zone == "America/New_York"
    assert owner.check_password("secret-pass-123")  # no new password given: unchanged


def test_edit_user_with_a_taken_email_keeps_the_stored_values(admin_client, owner, teammate):
    response = admin_client.post(
        reverse("accounts:user_edit", args=[owner.pk]),
        {"email": teammate.email, "first_name": "Changed", "time_zone": "UTC"},
    )

    assert response.status_code == 422
    assert "email" in response.context["form"].errors
    owner.refresh_from_db()
    assert owner.first_name != "Changed"


def test_deactivate_and_reactivate_a_user(admin_client, owner):
    url = reverse("accounts:user_set_active", args=[owner.pk])

    admin_client.post(url, {"active": "0"})
    owner.refresh_from_db()
    assert owner.is_active is False
    assert User.objects.filter(pk=owner.pk).exists()

    admin_client.post(url, {"active": "1"})
    owner.refresh_from_db()
    assert owner.is_active is True


def test_deactivation_only_by_post(admin_client, owner):
    response = admin_client.get(reverse("accounts:user_set_active", args=[owner.pk]))

    assert response.status_code == 405
    owner.refresh_from_db()
    assert owner.is_active


def test_an_administrator_cannot_deactivate_themselves(admin_client, admin_user):
    response = admin_client.post(
        reverse("accounts:user_set_active", args=[admin_user.pk]), {"active": "0"}, follow=True
    )

    admin_user.refresh_from_db()
    assert admin_user.is_active
    assert "cannot deactivate your own account" in response.content.decode()


def test_a_deactivated_user_cannot_sign_in_or_use_a_token(admin_client, owner):
    from rapport.accounts.api.auth import TokenAuth

    _token, secret = create_api_token(actor=owner, user=owner, name="t")
    admin_client.post(reverse("accounts:user_set_active", args=[owner.pk]), {"active": "0"})

    response = Client().post(
        reverse("accounts:login"), {"username": "owner", "password": "secret-pass-123"}
    )
    assert response.status_code == 400
    assert TokenAuth().authenticate(RequestFactory().get("/api/v1/"), secret) is None


def test_administrators_see_and_revoke_someone_elses_tokens(admin_client, owner):
    token, _ = create_api_token(actor=owner, user=owner, name="Owner's laptop")
    page = admin_client.get(reverse("accounts:user_edit", args=[owner.pk]))
    assert "Owner&#x27;s laptop" in page.content.decode()
    assert token.key_prefix in page.content.decode()

    response = admin_client.post(reverse("accounts:user_token_revoke", args=[owner.pk, token.pk]))

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_revoking_a_token_through_another_users_url_is_404(admin_client, owner, teammate):
    token, _ = create_api_token(actor=owner, user=owner, name="t")

    response = admin_client.post(
        reverse("accounts:user_token_revoke", args=[teammate.pk, token.pk])
    )

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_unknown_user_is_404(admin_client):
    assert admin_client.get(reverse("accounts:user_edit", args=[999999])).status_code == 404


def test_names_with_markup_are_shown_inert(admin_client, team_scope_role):
    person = UserFactory(username="xss", first_name=XSS, last_name="<b>bold</b>")
    team = Team.objects.create(name=f"Team {XSS}", kind="sales")
    person.teams.add(team)
    role = RoleFactory(name=f"Role {XSS}")
    person.role = role
    person.save()

    for url in (
        reverse("accounts:user_list"),
        reverse("accounts:user_edit", args=[person.pk]),
        reverse("accounts:team_list"),
        reverse("accounts:team_edit", args=[team.pk]),
        reverse("accounts:role_list"),
        reverse("accounts:role_edit", args=[role.pk]),
    ):
        body = admin_client.get(url).content.decode()
        assert XSS not in body, url
        assert "<b>bold</b>" not in body, url
    assert "&lt;script&gt;" in admin_client.get(reverse("accounts:user_list")).content.decode()


# Teams -------------------------------------------------------------------------------------


def test_create_team_with_members(admin_client, owner, outsider):
    response = admin_client.post(
        reverse("accounts:team_create"),
        {"name": "Customer Care", "kind": "service", "members": [owner.pk, outsider.pk]},
    )

    assert response.status_code == 302
    team = Team.objects.get(name="Customer Care")
    assert team.kind == "service"
    assert set(team.members.all()) == {owner, outsider}


def test_team_list_counts_active_members(admin_client, owner, teammate):
    teammate.is_active = False
    teammate.save()

    response = admin_client.get(reverse("accounts:team_list"))

    counts = {team.name: team.member_count for team in response.context["teams"]}
    assert counts["Sales North"] == 1


def test_duplicate_team_name_is_shown_beside_the_name(admin_client, sales_team):
    response = admin_client.post(
        reverse("accounts:team_create"), {"name": sales_team.name, "kind": "sales"}
    )

    assert response.status_code == 422
    assert "name" in response.context["form"].errors
    assert Team.objects.filter(name=sales_team.name).count() == 1


def test_edit_team_keeps_deactivated_members_listed(admin_client, sales_team, owner, teammate):
    teammate.is_active = False
    teammate.save()

    page = admin_client.get(reverse("accounts:team_edit", args=[sales_team.pk]))
    assert teammate in page.context["form"].fields["members"].queryset

    response = admin_client.post(
        reverse("accounts:team_edit", args=[sales_team.pk]),
        {"name": "Sales North", "kind": "marketing", "members": [owner.pk, teammate.pk]},
    )

    assert response.status_code == 302
    sales_team.refresh_from_db()
    assert sales_team.kind == "marketing"
    assert set(sales_team.members.all()) == {owner, teammate}


def test_invalid_team_kind_is_refused(admin_client):
    response = admin_client.post(reverse("accounts:team_create"), {"name": "X", "kind": "pets"})

    assert response.status_code == 422
    assert "kind" in response.context["form"].errors
    assert not Team.objects.filter(name="X").exists()


# Roles -------------------------------------------------------------------------------------


def role_data(**overrides):
    data = {
        "name": "Marketer",
        "description": "Campaigns",
        "scope_contacts": "all",
        "scope_sales": "own",
        "scope_service": "team",
        "scope_marketing": "all",
        "scope_analytics": "team",
    }
    data.update(overrides)
    return data


def test_create_role_with_a_scope_per_domain(admin_client):
    response = admin_client.post(reverse("accounts:role_create"), role_data(is_read_only="on"))

    assert response.status_code == 302
    role = Role.objects.get(name="Marketer")
    assert role.scopes == {
        "contacts": "all",
        "sales": "own",
        "service": "team",
        "marketing": "all",
        "analytics": "team",
    }
    assert role.is_read_only and not role.is_admin


def test_role_form_shows_the_stored_scopes(admin_client, team_scope_role):
    response = admin_client.get(reverse("accounts:role_edit", args=[team_scope_role.pk]))

    form = response.context["form"]
    assert form["scope_contacts"].value() == "team"
    assert form["scope_marketing"].value() == "own"


def test_invalid_scope_shows_beside_its_domain(admin_client):
    response = admin_client.post(
        reverse("accounts:role_create"), role_data(scope_sales="everything")
    )

    assert response.status_code == 422
    assert "scope_sales" in response.context["form"].errors
    assert not Role.objects.filter(name="Marketer").exists()


def test_admin_and_read_only_together_is_refused_beside_the_flag(admin_client):
    response = admin_client.post(
        reverse("accounts:role_create"), role_data(is_admin="on", is_read_only="on")
    )

    assert response.status_code == 422
    assert "is_read_only" in response.context["form"].errors
    assert 'id="id_is_read_only_error"' in response.content.decode()
    assert not Role.objects.filter(name="Marketer").exists()


def test_edit_role_changes_scopes(admin_client, team_scope_role):
    response = admin_client.post(
        reverse("accounts:role_edit", args=[team_scope_role.pk]),
        role_data(name=team_scope_role.name, scope_contacts="own"),
    )

    assert response.status_code == 302
    team_scope_role.refresh_from_db()
    assert team_scope_role.scopes["contacts"] == "own"


def test_removing_the_last_admin_role_is_shown_not_saved(admin_client, admin_role):
    response = admin_client.post(
        reverse("accounts:role_edit", args=[admin_role.pk]), role_data(name=admin_role.name)
    )

    assert response.status_code == 422
    assert "is_admin" in response.context["form"].errors
    admin_role.refresh_from_db()
    assert admin_role.is_admin
