"""Passkeys: adding and removing them on My account, signing in with one instead of the password,
and using one in place of the code at the second-factor step.

The browser's part is played by `SoftwareAuthenticator`: a real P-256 key pair that answers the
server's options the way a platform authenticator does (attestation "none"), so every signature,
challenge, origin and counter check runs in py_webauthn for real.
"""

import datetime as dt
import hashlib
import json
import os
from base64 import urlsafe_b64decode, urlsafe_b64encode

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.auth import SESSION_KEY
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django_otp.plugins.otp_totp.models import TOTPDevice

from rapport.accounts import passkeys
from rapport.accounts.models import LoginAttempt, Passkey, User, UserSession
from rapport.accounts.services import update_role, update_user
from rapport.audit.models import ChangeRecord

pytestmark = pytest.mark.django_db

ORIGIN = "http://testserver"  # what the test client's requests are served as


def b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftwareAuthenticator:
    """One passkey on a pretend device: creates the credential and signs assertions with it."""

    def __init__(self, *, origin: str = ORIGIN):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.sign_count = 0
        self.user_handle = b""
        self.origin = origin

    def _cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        # COSE_Key: kty EC2, alg ES256, crv P-256, x, y.
        return cbor2.dumps(
            {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32)}
        )

    def _authenticator_data(self, rp_id: str, *, attested: bool, verified: bool) -> bytes:
        flags = 0x01 | (0x04 if verified else 0) | (0x40 if attested else 0)
        data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags])
        data += self.sign_count.to_bytes(4, "big")
        if attested:
            data += bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id
            data += self._cose_public_key()
        return data

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        ).encode()

    def create(self, options: dict, *, verified: bool = True) -> str:
        self.user_handle = unb64(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options["challenge"])
        auth_data = self._authenticator_data(options["rp"]["id"], attested=True, verified=verified)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps(
            {
                "id": b64(self.credential_id),
                "rawId": b64(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64(client_data),
                    "attestationObject": b64(attestation),
                    "transports": ["internal", "hybrid"],
                },
                "clientExtensionResults": {},
            }
        )

    def get(self, options: dict, *, verified: bool = True, sign_count: int | None = None) -> str:
        self.sign_count = self.sign_count + 1 if sign_count is None else sign_count
        client_data = self._client_data("webauthn.get", options["challenge"])
        auth_data = self._authenticator_data(options["rpId"], attested=False, verified=verified)
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return json.dumps(
            {
                "id": b64(self.credential_id),
                "rawId": b64(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64(client_data),
                    "authenticatorData": b64(auth_data),
                    "signature": b64(signature),
                    "userHandle": b64(self.user_handle),
                },
                "clientExtensionResults": {},
            }
        )


def add_passkey(client: Client, device: SoftwareAuthenticator, name="Work laptop", **kwargs):
    options = client.post(reverse("accounts:passkey_add_options"), {"name": name})
    assert options.status_code == 200, options.content
    credential = device.create(options.json(), **kwargs)
    return client.post(reverse("accounts:passkey_add"), {"name": name, "credential": credential})


@pytest.fixture
def device():
    return SoftwareAuthenticator()


@pytest.fixture
def registered(owner, device, web_client_for):
    """The owner's passkey on `device`, added through My account."""
    add_passkey(web_client_for(owner), device)
    return Passkey.objects.get(user=owner)


def sign_in_options(client: Client) -> dict:
    response = client.post(reverse("accounts:passkey_sign_in_options"))
    assert response.status_code == 200, response.content
    return response.json()


def passkey_sign_in(client: Client, credential: str, next_url: str = ""):
    return client.post(
        reverse("accounts:passkey_sign_in"), {"credential": credential, "next": next_url}
    )


# Adding ---------------------------------------------------------------------------------------


def test_adding_a_passkey_asks_for_a_discoverable_verified_credential(owner, web_client_for):
    client = web_client_for(owner)

    options = client.post(reverse("accounts:passkey_add_options"), {"name": "Work laptop"})

    assert options.status_code == 200
    assert options["Cache-Control"] == "no-store"
    body = options.json()
    assert body["rp"] == {"id": "testserver", "name": "Rapport"}
    assert body["user"]["name"] == "owner"
    assert unb64(body["user"]["id"]) == str(owner.pk).encode()
    assert body["authenticatorSelection"]["residentKey"] == "required"
    assert body["authenticatorSelection"]["userVerification"] == "required"
    assert body["excludeCredentials"] == []


def test_an_added_passkey_is_kept_listed_and_audited(owner, device, web_client_for):
    client = web_client_for(owner)

    response = add_passkey(client, device, name="  Work   laptop ")

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:account")
    passkey = Passkey.objects.get(user=owner)
    assert passkey.name == "Work laptop"
    assert passkey.credential_id == b64(device.credential_id)
    assert passkey.sign_count == 0
    assert passkey.transports == ["internal", "hybrid"]
    assert passkey.last_used_at is None
    page = client.get(reverse("accounts:account"))
    html = page.content.decode()
    assert "Your passkey “Work laptop” is added." in html
    assert "<td>Work laptop</td>" in html and ">never</td>" in html
    record = ChangeRecord.objects.get(message="Passkey “Work laptop” added")
    assert record.actor_id == owner.pk
    assert record.after == {"passkeys": ["Work laptop"]}
    assert passkey.credential_id not in json.dumps(record.after)


def test_the_next_passkey_excludes_the_ones_already_added(registered, owner, web_client_for):
    options = web_client_for(owner).post(reverse("accounts:passkey_add_options"), {"name": "Phone"})

    assert [item["id"] for item in options.json()["excludeCredentials"]] == [
        registered.credential_id
    ]


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("   ", "Give the passkey a name, such as “Work laptop”."),
        ("x" * 81, "Keep the name to 80 characters."),
        ("work LAPTOP", "You already have a passkey named “work LAPTOP”."),
    ],
)
def test_a_bad_name_is_refused_before_the_device_is_asked(
    registered, owner, web_client_for, name, error
):
    response = web_client_for(owner).post(reverse("accounts:passkey_add_options"), {"name": name})

    assert response.status_code == 422
    assert response.json() == {"error": error, "field": "name"}


def test_a_device_that_did_not_verify_the_user_is_refused(owner, device, web_client_for):
    response = add_passkey(web_client_for(owner), device, verified=False)

    assert flash_messages_after(response) == [
        f"The passkey was not added: {passkeys.NO_USER_VERIFICATION}"
    ]
    assert not Passkey.objects.exists()


def shows(response, text: str) -> bool:
    """Whether the page shows `text` (as the template escaped it)."""
    return escape(text) in response.content.decode()


def flash_messages_after(redirect_response) -> list[str]:
    """The messages shown on the page a redirect leads to (same client, same session)."""
    page = redirect_response.client.get(redirect_response["Location"])
    return [str(message) for message in page.context["messages"]]


def test_a_registration_challenge_serves_one_answer(owner, device, web_client_for):
    client = web_client_for(owner)
    options = client.post(reverse("accounts:passkey_add_options"), {"name": "Laptop"}).json()
    credential = device.create(options)
    first = client.post(
        reverse("accounts:passkey_add"), {"name": "Laptop", "credential": credential}
    )
    assert first.status_code == 302
    Passkey.objects.all().delete()

    again = client.post(
        reverse("accounts:passkey_add"), {"name": "Laptop", "credential": credential}
    )

    assert flash_messages_after(again)[-1] == f"The passkey was not added: {passkeys.EXPIRED}"
    assert not Passkey.objects.exists()


def test_a_registration_challenge_expires_after_five_minutes(owner, device, web_client_for):
    client = web_client_for(owner)
    options = client.post(reverse("accounts:passkey_add_options"), {"name": "Laptop"}).json()
    session = client.session
    pending = session[passkeys.CHALLENGE_SESSION_KEY]
    pending["at"] = (timezone.now() - dt.timedelta(minutes=5, seconds=1)).isoformat()
    session[passkeys.CHALLENGE_SESSION_KEY] = pending
    session.save()

    response = client.post(
        reverse("accounts:passkey_add"), {"name": "Laptop", "credential": device.create(options)}
    )

    assert flash_messages_after(response) == [f"The passkey was not added: {passkeys.EXPIRED}"]
    assert not Passkey.objects.exists()


def test_a_passkey_registered_for_another_site_is_refused(owner, web_client_for):
    elsewhere = SoftwareAuthenticator(origin="https://evil.example")

    response = add_passkey(web_client_for(owner), elsewhere)

    assert flash_messages_after(response) == [f"The passkey was not added: {passkeys.NOT_VERIFIED}"]
    assert not Passkey.objects.exists()


def test_an_unreadable_answer_is_refused_in_words(owner, web_client_for):
    client = web_client_for(owner)
    client.post(reverse("accounts:passkey_add_options"), {"name": "Laptop"})

    response = client.post(
        reverse("accounts:passkey_add"), {"name": "Laptop", "credential": "{not json"}
    )

    assert flash_messages_after(response) == [f"The passkey was not added: {passkeys.NOT_VERIFIED}"]


def test_adding_needs_a_signed_in_user(client):
    response = client.post(reverse("accounts:passkey_add_options"), {"name": "Laptop"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


# Signing in without the password ---------------------------------------------------------------


def test_the_sign_in_options_ask_any_passkey_with_user_verification():
    options = sign_in_options(Client())

    assert options["rpId"] == "testserver"
    assert options["userVerification"] == "required"
    assert options["allowCredentials"] == []


def test_a_passkey_signs_in_like_a_password(registered, owner, device):
    client = Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36")
    credential = device.get(sign_in_options(client))

    response = passkey_sign_in(client, credential, next_url="/accounts/me/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/me/"
    assert client.session[SESSION_KEY] == str(owner.pk)
    assert LoginAttempt.objects.filter(username="owner", succeeded=True).count() == 1
    assert UserSession.objects.get(user=owner).device == "Chrome on Linux"
    registered.refresh_from_db()
    assert registered.sign_count == 1
    assert registered.last_used_at is not None
    page = client.get(reverse("accounts:account")).content.decode()
    assert ">never</td>" not in page


def test_a_passkey_sign_in_skips_the_code_step(registered, owner, device):
    TOTPDevice.objects.create(user=owner, name="Authenticator app", confirmed=True)
    client = Client()

    response = passkey_sign_in(client, device.get(sign_in_options(client)))

    assert response["Location"] == reverse("core:home")
    assert client.session[SESSION_KEY] == str(owner.pk)


def test_a_passkey_satisfies_a_role_that_requires_two_factor(registered, owner, admin_user, device):
    update_role(actor=admin_user, role=owner.role, requires_two_factor=True)
    client = Client()

    response = passkey_sign_in(client, device.get(sign_in_options(client)))

    assert response["Location"] == reverse("core:home")
    assert client.get(reverse("contacts:contact_list")).status_code == 200


def test_a_device_that_did_not_verify_the_user_does_not_sign_in(registered, device):
    client = Client()

    response = passkey_sign_in(client, device.get(sign_in_options(client), verified=False))

    assert response.status_code == 400
    assert shows(response, passkeys.NO_USER_VERIFICATION)
    assert SESSION_KEY not in client.session
    assert LoginAttempt.objects.filter(username="owner", succeeded=False).count() == 1


def test_a_counter_that_did_not_move_forward_is_refused(registered, device):
    Passkey.objects.filter(pk=registered.pk).update(sign_count=7)
    client = Client()

    response = passkey_sign_in(client, device.get(sign_in_options(client), sign_count=7))

    assert response.status_code == 400
    assert shows(response, passkeys.COUNTER_WENT_BACK)
    assert SESSION_KEY not in client.session
    registered.refresh_from_db()
    assert registered.sign_count == 7
    assert registered.last_used_at is None


def test_an_authenticator_without_a_counter_keeps_signing_in(registered, owner, device):
    for _ in range(2):
        client = Client()
        response = passkey_sign_in(client, device.get(sign_in_options(client), sign_count=0))
        assert response.status_code == 302
        assert client.session[SESSION_KEY] == str(owner.pk)


def test_a_sign_in_challenge_serves_one_answer(registered, device):
    client = Client()
    credential = device.get(sign_in_options(client))
    assert passkey_sign_in(client, credential).status_code == 302
    client.post(reverse("accounts:logout"))

    replay = passkey_sign_in(client, credential)

    assert replay.status_code == 400
    assert shows(replay, passkeys.EXPIRED)
    assert SESSION_KEY not in client.session


def test_a_sign_in_challenge_expires_after_five_minutes(registered, device):
    client = Client()
    options = sign_in_options(client)
    session = client.session
    session[passkeys.CHALLENGE_SESSION_KEY]["at"] = (
        timezone.now() - dt.timedelta(minutes=6)
    ).isoformat()
    session.save()

    response = passkey_sign_in(client, device.get(options))

    assert response.status_code == 400
    assert shows(response, passkeys.EXPIRED)


def test_a_registration_challenge_does_not_sign_in(registered, owner, device):
    # The challenge of adding a passkey cannot be spent on a sign-in, even by the same session.
    client = Client()
    client.force_login(owner)
    options = client.post(reverse("accounts:passkey_add_options"), {"name": "Phone"}).json()
    client.post(reverse("accounts:logout"))
    session = client.session
    session[passkeys.CHALLENGE_SESSION_KEY] = {
        "ceremony": passkeys.REGISTER,
        "challenge": options["challenge"],
        "user": owner.pk,
        "at": timezone.now().isoformat(),
    }
    session.save()

    response = passkey_sign_in(client, device.get({"rpId": "testserver", **options}))

    assert response.status_code == 400
    assert shows(response, passkeys.EXPIRED)


def test_an_unknown_passkey_does_not_sign_in_and_is_counted(registered):
    stranger = SoftwareAuthenticator()
    stranger.user_handle = b"1"
    client = Client()

    response = passkey_sign_in(client, stranger.get(sign_in_options(client)))

    assert response.status_code == 400
    assert shows(response, passkeys.UNKNOWN)
    assert LoginAttempt.objects.filter(username="", succeeded=False).count() == 1


def test_a_wrong_signature_does_not_sign_in(registered, device):
    impostor = SoftwareAuthenticator()
    impostor.credential_id = device.credential_id
    impostor.user_handle = device.user_handle
    client = Client()

    response = passkey_sign_in(client, impostor.get(sign_in_options(client)))

    assert response.status_code == 400
    assert shows(response, passkeys.NOT_VERIFIED)
    assert SESSION_KEY not in client.session


def test_a_deactivated_users_passkey_does_not_sign_in(registered, owner, admin_user, device):
    update_user(actor=admin_user, user=owner, is_active=False)
    client = Client()

    response = passkey_sign_in(client, device.get(sign_in_options(client)))

    assert response.status_code == 400
    assert shows(response, passkeys.UNKNOWN)
    assert SESSION_KEY not in client.session


def test_the_passkey_sign_in_is_throttled_like_the_password(registered, device, settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 3
    client = Client()
    for _ in range(3):
        client.post(reverse("accounts:login"), {"username": "owner", "password": "wrong"})

    response = passkey_sign_in(client, device.get(sign_in_options(client)))

    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert SESSION_KEY not in client.session


def test_a_throttled_address_gets_no_challenge(settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 1
    client = Client()
    for name in ["a", "b", "c", "d"]:
        client.post(reverse("accounts:login"), {"username": name, "password": "wrong"})

    response = client.post(reverse("accounts:passkey_sign_in_options"))

    assert response.status_code == 429
    assert response.json()["error"] == "Too many failed attempts. Wait a few minutes and try again."


def test_the_login_page_offers_a_passkey():
    html = Client().get(reverse("accounts:login")).content.decode()

    assert "Sign in with a passkey" in html
    assert 'src="/static/js/passkeys.js"' in html


# In place of the code --------------------------------------------------------------------------


def password_step(client: Client, next_url: str = ""):
    data = {"username": "owner", "password": "secret-pass-123", "next": next_url}
    return client.post(reverse("accounts:login"), data)


def test_a_passkey_is_accepted_in_place_of_the_code(registered, owner, device):
    TOTPDevice.objects.create(user=owner, name="Authenticator app", confirmed=True)
    client = Client()
    assert password_step(client, "/accounts/me/")["Location"] == reverse("accounts:login_code")
    options = client.post(reverse("accounts:passkey_second_factor_options")).json()
    assert [item["id"] for item in options["allowCredentials"]] == [registered.credential_id]

    response = client.post(
        reverse("accounts:passkey_second_factor"), {"credential": device.get(options)}
    )

    assert response["Location"] == "/accounts/me/"
    assert client.session[SESSION_KEY] == str(owner.pk)
    assert "rapport_two_factor_pending" not in client.session
    assert LoginAttempt.objects.filter(username="owner", succeeded=True).count() == 1


def test_someone_elses_passkey_is_refused_at_the_code_step(registered, teammate, device):
    # The teammate has an authenticator app and a passkey of their own, so their code step
    # offers a passkey; the owner's passkey answers it.
    TOTPDevice.objects.create(user=teammate, name="Authenticator app", confirmed=True)
    add_passkey(_signed_in(teammate), SoftwareAuthenticator(), name="Teammate's laptop")
    client = Client()
    client.post(reverse("accounts:login"), {"username": "teammate", "password": "secret-pass-123"})
    options = client.post(reverse("accounts:passkey_second_factor_options")).json()

    response = client.post(
        reverse("accounts:passkey_second_factor"), {"credential": device.get(options)}
    )

    assert response.status_code == 400
    assert "This passkey is not one of yours" in response.content.decode()
    assert SESSION_KEY not in client.session
    assert LoginAttempt.objects.filter(username="teammate", succeeded=False).count() == 1


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_code_step_says_so_when_there_is_no_passkey(owner):
    TOTPDevice.objects.create(user=owner, name="Authenticator app", confirmed=True)
    client = Client()
    password_step(client)

    response = client.post(reverse("accounts:passkey_second_factor_options"))

    assert response.status_code == 400
    assert response.json()["error"] == (
        "You have no passkey yet. Enter the code from your authenticator app."
    )


def test_the_code_step_needs_the_password_first(registered, device):
    client = Client()

    options = client.post(reverse("accounts:passkey_second_factor_options"))
    answer = client.post(reverse("accounts:passkey_second_factor"), {"credential": "{}"})

    assert options.status_code == 400
    assert answer["Location"] == reverse("accounts:login")
    assert SESSION_KEY not in client.session


# Removing --------------------------------------------------------------------------------------


def test_removing_asks_the_password_of_a_session_not_freshly_signed_in(
    registered, owner, web_client_for
):
    client = web_client_for(owner)
    url = reverse("accounts:passkey_remove", args=[registered.pk])
    assert 'name="password"' in client.get(url).content.decode()

    wrong = client.post(url, {"password": "not-it"})

    assert wrong.status_code == 422
    assert "This password is not right." in wrong.content.decode()
    assert Passkey.objects.filter(pk=registered.pk).exists()
    assert LoginAttempt.objects.filter(username="owner", succeeded=False).count() == 1

    empty = client.post(url, {"password": ""})
    assert "Enter your password to remove the passkey." in empty.content.decode()

    right = client.post(url, {"password": "secret-pass-123"})

    assert right["Location"] == reverse("accounts:account")
    assert not Passkey.objects.filter(pk=registered.pk).exists()
    record = ChangeRecord.objects.get(message="Passkey “Work laptop” removed")
    assert record.actor_id == owner.pk and record.before == {"passkeys": ["Work laptop"]}


def signed_in_with_both_factors(device) -> Client:
    client = Client()
    password_step(client)
    options = client.post(reverse("accounts:passkey_second_factor_options")).json()
    client.post(reverse("accounts:passkey_second_factor"), {"credential": device.get(options)})
    return client


def test_a_fresh_sign_in_removes_without_the_password(registered, owner, device):
    client = signed_in_with_both_factors(device)
    url = reverse("accounts:passkey_remove", args=[registered.pk])
    assert 'name="password"' not in client.get(url).content.decode()

    response = client.post(url, {})

    assert response["Location"] == reverse("accounts:account")
    assert not Passkey.objects.exists()


def test_a_sign_in_older_than_ten_minutes_is_not_fresh(registered, owner, device):
    client = signed_in_with_both_factors(device)
    UserSession.objects.filter(user=owner).update(
        created_at=timezone.now() - dt.timedelta(minutes=11)
    )

    response = client.post(reverse("accounts:passkey_remove", args=[registered.pk]), {})

    assert response.status_code == 422
    assert Passkey.objects.filter(pk=registered.pk).exists()


def test_removing_someone_elses_passkey_is_not_found(registered, teammate, web_client_for):
    response = web_client_for(teammate).post(
        reverse("accounts:passkey_remove", args=[registered.pk]), {"password": "secret-pass-123"}
    )

    assert response.status_code == 404
    assert Passkey.objects.filter(pk=registered.pk).exists()


def test_a_removed_passkey_no_longer_signs_in(registered, owner, device):
    passkeys.remove_passkey(actor=owner, passkey=registered)
    client = Client()

    response = passkey_sign_in(client, device.get(sign_in_options(client)))

    assert response.status_code == 400
    assert shows(response, passkeys.UNKNOWN)


# The relying party -----------------------------------------------------------------------------


def test_the_relying_party_is_the_request_host_without_its_port():
    request = RequestFactory().get("/", HTTP_HOST="localhost:8000")

    party = passkeys.relying_party(request)

    assert party == passkeys.RelyingParty(id="localhost", origin="http://localhost:8000")


def test_the_public_url_names_the_relying_party_behind_a_proxy(settings):
    settings.RAPPORT_PUBLIC_URL = "https://crm.example.com/"

    party = passkeys.relying_party(RequestFactory().get("/"))

    assert party == passkeys.RelyingParty(id="crm.example.com", origin="https://crm.example.com")


def test_an_answer_from_another_origin_than_the_public_url_is_refused(registered, device, settings):
    settings.RAPPORT_PUBLIC_URL = "https://crm.example.com"
    client = Client()
    options = sign_in_options(client)
    assert options["rpId"] == "crm.example.com"

    response = passkey_sign_in(client, device.get(options))

    assert response.status_code == 400
    assert shows(response, passkeys.NOT_VERIFIED)


def test_a_password_alone_is_not_enough_once_a_passkey_is_added(registered, owner, device):
    # A passkey is a second factor: without an authenticator app, the password still leads to
    # the second step, which the passkey answers.
    client = Client()
    assert password_step(client)["Location"] == reverse("accounts:login_code")
    assert SESSION_KEY not in client.session
    options = client.post(reverse("accounts:passkey_second_factor_options")).json()
    response = client.post(
        reverse("accounts:passkey_second_factor"), {"credential": device.get(options)}
    )
    assert client.session[SESSION_KEY] == str(owner.pk)
    assert response.status_code == 302


def test_a_deactivated_administrator_cannot_remove_someone_elses_passkey(registered, admin_user):
    User.objects.filter(pk=admin_user.pk).update(is_active=False)
    admin_user.refresh_from_db()

    with pytest.raises(PermissionDenied):
        passkeys.remove_passkey(actor=admin_user, passkey=registered)

    assert Passkey.objects.filter(pk=registered.pk).exists()


def test_an_administrator_removes_a_passkey_a_teammate_may_not(registered, teammate, admin_user):
    with pytest.raises(PermissionDenied):
        passkeys.remove_passkey(actor=teammate, passkey=registered)
    assert Passkey.objects.filter(pk=registered.pk).exists()

    passkeys.remove_passkey(actor=admin_user, passkey=registered)

    assert not Passkey.objects.filter(pk=registered.pk).exists()
