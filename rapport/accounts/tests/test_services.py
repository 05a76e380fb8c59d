import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rapport.accounts import services
from rapport.accounts.models import ApiToken, LoginAttempt, Role, Team, User
from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.audit.models import ChangeRecord

pytestmark = pytest.mark.django_db


def changes_of(instance):
    return ChangeRecord.objects.filter(
        entity=instance._meta.label_lower, object_id=str(instance.pk)
    ).order_by("id")


# Roles -------------------------------------------------------------------------------------


def test_create_role_stores_scopes_and_records_the_change(admin_user):
    role = services.create_role(
        actor=admin_user, name="  Service desk ", scopes={"service": "team", "contacts": "all"}
    )

    assert role.name == "Service desk"
    assert role.scope_for("service") == "team"
    assert role.scope_for("sales") == "own"
    record = changes_of(role).get()
    assert record.action == "create"
    assert record.after["scopes"] == {"service": "team", "contacts": "all"}


def test_create_role_refuses_unknown_scope_and_domain(admin_user):
    with pytest.raises(ValidationError) as caught:
        services.create_role(
            actor=admin_user, name="Odd", scopes={"contacts": "everything", "pets": "all"}
        )

    assert set(caught.value.message_dict) == {"scopes.contacts", "scopes.pets"}
    assert not Role.objects.filter(name="Odd").exists()


def test_an_administrator_role_cannot_be_read_only(admin_user):
    with pytest.raises(ValidationError) as caught:
        services.create_role(
            actor=admin_user, name="Both", scopes={}, is_admin=True, is_read_only=True
        )

    assert "is_read_only" in caught.value.message_dict
    assert not Role.objects.filter(name="Both").exists()


def test_role_names_are_unique(admin_user, team_scope_role):
    with pytest.raises(ValidationError) as caught:
        services.create_role(actor=admin_user, name=team_scope_role.name, scopes={})

    assert "name" in caught.value.message_dict


def test_non_administrators_cannot_write_roles_teams_or_users(owner, team_scope_role):
    with pytest.raises(PermissionDenied):
        services.create_role(actor=owner, name="Mine", scopes={})
    with pytest.raises(PermissionDenied):
        services.update_role(actor=owner, role=team_scope_role, scopes={"contacts": "all"})
    with pytest.raises(PermissionDenied):
        services.create_team(actor=owner, name="Mine")
    with pytest.raises(PermissionDenied):
        services.create_user(actor=owner, username="sneaky", email="s@example.com")
    with pytest.raises(PermissionDenied):
        services.update_user(actor=owner, user=owner, role=None)

    team_scope_role.refresh_from_db()
    assert team_scope_role.scopes == {"contacts": "team", "sales": "team"}
    assert not User.objects.filter(username="sneaky").exists()


def test_taking_admin_away_from_the_only_admin_role_is_refused(admin_user, admin_role):
    with pytest.raises(ValidationError) as caught:
        services.update_role(actor=admin_user, role=admin_role, is_admin=False)

    assert "is_admin" in caught.value.message_dict
    admin_role.refresh_from_db()
    assert admin_role.is_admin is True


def test_admin_flag_may_go_when_another_administrator_remains(admin_user, admin_role):
    other_admin_role = RoleFactory(name="Superadmins", is_admin=True)
    UserFactory(username="chief", role=other_admin_role)

    services.update_role(actor=admin_user, role=admin_role, is_admin=False)

    admin_role.refresh_from_db()
    assert admin_role.is_admin is False


# Teams -------------------------------------------------------------------------------------


def test_create_team_with_members_records_them(admin_user, owner, outsider):
    team = services.create_team(
        actor=admin_user, name="Marketing", kind="marketing", members=[owner, outsider]
    )

    assert set(team.members.all()) == {owner, outsider}
    assert changes_of(team).get().after["members"] == sorted([owner.pk, outsider.pk])


def test_update_team_replaces_members_and_audits_before_and_after(admin_user, owner, teammate):
    team = Team.objects.get(name="Sales North")

    services.update_team(actor=admin_user, team=team, members=[owner], name="Sales N")

    assert list(team.members.all()) == [owner]
    record = changes_of(team).get()
    assert record.before["members"] == sorted([owner.pk, teammate.pk])
    assert record.after["members"] == [owner.pk]
    assert record.after["name"] == "Sales N"


def test_team_kind_must_be_known(admin_user):
    with pytest.raises(ValidationError) as caught:
        services.create_team(actor=admin_user, name="Pets", kind="pets")

    assert "kind" in caught.value.message_dict
    assert not Team.objects.filter(name="Pets").exists()


# Users -------------------------------------------------------------------------------------


def test_create_user_lowercases_email_and_records_no_password(admin_user, sales_team):
    user = services.create_user(
        actor=admin_user,
        username="grace",
        email="Grace@Example.COM",
        password="a-long-unusual-passphrase",
        teams=[sales_team],
        first_name="Grace",
        time_zone="Europe/Paris",
    )

    assert user.email == "grace@example.com"
    assert user.check_password("a-long-unusual-passphrase")
    record = changes_of(user).get()
    assert record.after["password_set"] is True
    assert record.after["teams"] == [sales_team.pk]
    assert "password" not in record.after
    assert "a-long-unusual-passphrase" not in str(record.after)


def test_create_user_collects_every_error_and_writes_nothing(admin_user, owner):
    with pytest.raises(ValidationError) as caught:
        services.create_user(
            actor=admin_user,
            username="new person!",
            email=owner.email.upper(),
            password="123",
            time_zone="Mars/Olympus",
        )

    assert {"username", "email", "password", "time_zone"} <= set(caught.value.message_dict)
    assert User.objects.count() == 2


def test_create_user_without_password_cannot_sign_in(admin_user):
    user = services.create_user(actor=admin_user, username="nopass", email="np@example.com")

    assert not user.has_usable_password()


def test_users_may_edit_their_own_profile_but_not_their_access(owner, admin_role):
    services.update_user(actor=owner, user=owner, first_name="Olive", time_zone="Asia/Tokyo")

    owner.refresh_from_db()
    assert (owner.first_name, owner.time_zone) == ("Olive", "Asia/Tokyo")
    with pytest.raises(PermissionDenied):
        services.update_user(actor=owner, user=owner, role=admin_role)
    with pytest.raises(PermissionDenied):
        services.update_user(actor=owner, user=owner, open_lead_capacity=999)


def test_nobody_can_deactivate_themselves(admin_user):
    with pytest.raises(ValidationError) as caught:
        services.update_user(actor=admin_user, user=admin_user, is_active=False)

    assert "is_active" in caught.value.message_dict
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_the_last_active_administrator_cannot_lose_the_role(admin_user, team_scope_role):
    deputy = UserFactory(username="deputy", role=admin_user.role)
    services.update_user(actor=admin_user, user=deputy, is_active=False)

    with pytest.raises(ValidationError) as caught:
        services.update_user(actor=deputy, user=admin_user, role=team_scope_role)

    assert "role" in caught.value.message_dict
    admin_user.refresh_from_db()
    assert admin_user.role.is_admin


def test_deactivating_keeps_the_user_and_records_it(admin_user, owner):
    services.update_user(actor=admin_user, user=owner, is_active=False)

    owner.refresh_from_db()
    assert owner.is_active is False
    record = changes_of(owner).get()
    assert (record.before["is_active"], record.after["is_active"]) == (True, False)
    assert record.actor == admin_user


def test_a_password_change_is_audited_without_the_password(owner):
    services.update_user(actor=owner, user=owner, password="another-long-passphrase")

    record = changes_of(owner).get()
    assert record.before["password_changed"] is False
    assert record.after["password_changed"] is True
    assert "another-long-passphrase" not in str(record.after)


def test_a_weak_password_is_refused(owner):
    with pytest.raises(ValidationError) as caught:
        services.update_user(actor=owner, user=owner, password="password")

    assert "password" in caught.value.message_dict
    owner.refresh_from_db()
    assert owner.check_password("secret-pass-123")


# API tokens --------------------------------------------------------------------------------


def test_a_token_is_stored_as_a_hash_only(owner):
    token, secret = services.create_api_token(actor=owner, user=owner, name="Zapier")

    assert secret.startswith("rpt_")
    assert token.key_hash == ApiToken.hash_key(secret)
    assert secret not in token.key_hash
    assert token.key_prefix == secret[:12]
    assert not ApiToken.objects.filter(key_hash=secret).exists()
    assert secret not in str(changes_of(token).get().after)


def test_tokens_for_someone_else_need_an_administrator(owner, teammate, admin_user):
    with pytest.raises(PermissionDenied):
        services.create_api_token(actor=owner, user=teammate, name="x")
    token, _ = services.create_api_token(actor=teammate, user=teammate, name="mine")
    with pytest.raises(PermissionDenied):
        services.revoke_api_token(actor=owner, token=token)

    services.revoke_api_token(actor=admin_user, token=token)

    token.refresh_from_db()
    assert token.revoked_at is not None


def test_token_expiry_must_be_in_the_future(owner):
    with pytest.raises(ValidationError) as caught:
        services.create_api_token(
            actor=owner, user=owner, name="old", expires_at=timezone.now() - dt.timedelta(hours=1)
        )

    assert "expires_at" in caught.value.message_dict


# Sign-in throttle --------------------------------------------------------------------------


def fail(username, address="10.0.0.1", times=1):
    for _ in range(times):
        services.record_login_attempt(username=username, ip_address=address, succeeded=False)


def test_an_account_is_throttled_from_the_guessing_address(settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 3
    fail("Owner", times=2)
    assert not services.login_is_throttled(username="owner", ip_address="10.0.0.1")

    fail("owner")

    assert services.login_is_throttled(username="OWNER", ip_address="10.0.0.1")
    assert not services.login_is_throttled(username="someone-else", ip_address="10.0.0.1")


def test_a_guessers_lock_does_not_stop_the_account_from_another_address(settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 3
    fail("owner", address="203.0.113.66", times=3)

    assert services.login_is_throttled(username="owner", ip_address="203.0.113.66")
    assert not services.login_is_throttled(username="owner", ip_address="10.0.0.2")


def test_fullwidth_and_case_variants_are_the_same_account(settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 3
    fail("ｔｏｍ.becker")  # fullwidth: Django signs this in as tom.becker
    fail("Tom.Becker")
    fail("TOM.BECKER")

    assert services.login_is_throttled(username="tom.becker", ip_address="10.0.0.1")
    assert list(LoginAttempt.objects.values_list("username", flat=True).distinct()) == [
        "tom.becker"
    ]


def test_normalize_username_is_what_django_signs_in_with():
    assert services.normalize_username("  ｔｏｍ.Becker ") == "tom.becker"
    assert services.normalize_username("Straße") == "strasse"
    assert services.normalize_username("") == ""


def test_many_addresses_reach_the_account_cap_except_where_the_user_signed_in_before(settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 2
    services.record_login_attempt(username="owner", ip_address="10.0.0.2", succeeded=True)
    # A guesser with four addresses reaches each pair's limit of 2 …
    for n in range(4):
        fail("owner", address=f"198.51.100.{n}", times=2)

    # … but 8 failures (limit × 4) shut the account to unknown addresses,
    assert services.login_is_throttled(username="owner", ip_address="192.0.2.50")
    # not to the address the user signed in from before.
    assert not services.login_is_throttled(username="owner", ip_address="10.0.0.2")


def test_a_success_resets_its_pair_but_not_the_address(settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 3
    fail("owner", address="10.0.0.1", times=2)
    fail("other", address="10.0.0.1", times=10)

    services.record_login_attempt(username="owner", ip_address="10.0.0.1", succeeded=True)
    assert LoginAttempt.objects.filter(ip_address="10.0.0.1", succeeded=False).count() == 12
    # The address has 12 failures (limit × 4): signing in did not clear them.
    assert services.login_is_throttled(username="owner", ip_address="10.0.0.1")
    assert not services.login_is_throttled(username="owner", ip_address="10.0.0.2")


def test_a_success_elsewhere_does_not_give_the_guesser_new_tries(settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 3
    fail("owner", address="203.0.113.66", times=3)

    services.record_login_attempt(username="owner", ip_address="10.0.0.2", succeeded=True)

    assert services.login_is_throttled(username="owner", ip_address="203.0.113.66")


def test_failures_outside_the_window_do_not_count(settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 2
    fail("owner", times=2)
    LoginAttempt.objects.update(attempted_at=timezone.now() - dt.timedelta(hours=2))
    settings.RAPPORT_LOGIN_WINDOW_SECONDS = 900

    assert not services.login_is_throttled(username="owner", ip_address="10.0.0.1")


def test_old_attempts_are_pruned_on_success(settings):
    fail("owner", times=2)
    services.record_login_attempt(username="owner", ip_address="10.0.0.1", succeeded=True)
    LoginAttempt.objects.update(attempted_at=timezone.now() - dt.timedelta(days=3))
    services.record_login_attempt(username="gone", ip_address="10.0.0.1", succeeded=True)
    LoginAttempt.objects.filter(username="gone").update(
        attempted_at=timezone.now() - dt.timedelta(days=services.KNOWN_ADDRESS_DAYS + 1)
    )

    services.record_login_attempt(username="someone", ip_address=None, succeeded=True)

    # Old failures go after a day; successes stay KNOWN_ADDRESS_DAYS to recognise addresses.
    assert sorted(LoginAttempt.objects.values_list("username", "succeeded")) == [
        ("owner", True),
        ("someone", True),
    ]
