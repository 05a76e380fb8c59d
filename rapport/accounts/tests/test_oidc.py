"""OpenID Connect sign-in against a real provider over HTTP on 127.0.0.1.

The provider is written here (`TestProvider`): a standards-following authorization-code
provider as a WSGI app served by wsgiref in a thread — discovery document, JWKS, authorize and
token endpoints, PKCE S256, id_tokens signed RS256 with an RSA key generated for the test. A
`requests` session plays the browser: Rapport's live server sends it to the provider, the
provider back to Rapport's callback, and the session that results is checked in the store.
"""

import base64
import hashlib
import json
import re
import secrets
import threading
import time
import urllib.parse
from importlib import import_module
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from joserfc import jwt
from joserfc.jwk import RSAKey

from rapport.accounts import oidc
from rapport.accounts.models import LoginAttempt, User, UserSession
from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.accounts.tests.test_two_factor import code_for

CLIENT_ID = "rapport-test"
CLIENT_SECRET = "a-client-secret-for-the-test"


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class TestProvider:
    """A minimal OpenID Connect provider. `identity` holds the claims of whoever "signs in"
    at the authorize endpoint next (no login form: the test decides who that is)."""

    __test__ = False

    def __init__(self):
        self.key = RSAKey.generate_key(
            2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"}
        )
        self.identity: dict = {}
        self.tamper_state = False
        self.sign_with = self.key
        self.codes: dict[str, dict] = {}
        self.url = ""

    # -- the endpoints ---------------------------------------------------------------------

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        routes = {
            "/.well-known/openid-configuration": self.discovery,
            "/jwks": self.jwks,
            "/authorize": self.authorize,
            "/token": self.token,
        }
        handler = routes.get(path)
        if handler is None:
            return self._json(start_response, {"error": "not_found"}, "404 Not Found")
        return handler(environ, start_response)

    def discovery(self, environ, start_response):
        return self._json(
            start_response,
            {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "email", "profile"],
            },
        )

    def jwks(self, environ, start_response):
        return self._json(start_response, {"keys": [self.key.as_dict(private=False)]})

    def authorize(self, environ, start_response):
        query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return self._json(start_response, {"error": "invalid_request"}, "400 Bad Request")
        if "openid" not in query.get("scope", "").split():
            return self._json(start_response, {"error": "invalid_scope"}, "400 Bad Request")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return self._json(start_response, {"error": "invalid_request"}, "400 Bad Request")
        code = secrets.token_urlsafe(24)
        self.codes[code] = {
            "redirect_uri": query["redirect_uri"],
            "nonce": query.get("nonce"),
            "challenge": query["code_challenge"],
            "claims": dict(self.identity),
        }
        state = "not-the-state-rapport-sent" if self.tamper_state else query.get("state", "")
        back = query["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": state})
        start_response("302 Found", [("Location", back), ("Cache-Control", "no-store")])
        return [b""]

    def token(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = dict(urllib.parse.parse_qsl(environ["wsgi.input"].read(length).decode()))
        basic = environ.get("HTTP_AUTHORIZATION", "")
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if basic != expected:
            return self._json(start_response, {"error": "invalid_client"}, "401 Unauthorized")
        grant = self.codes.pop(form.get("code", ""), None)  # a code is used once
        if (
            form.get("grant_type") != "authorization_code"
            or grant is None
            or form.get("redirect_uri") != grant["redirect_uri"]
        ):
            return self._json(start_response, {"error": "invalid_grant"}, "400 Bad Request")
        verifier = form.get("code_verifier", "")
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        if challenge != grant["challenge"]:
            return self._json(start_response, {"error": "invalid_grant"}, "400 Bad Request")
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            **grant["claims"],
        }
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.sign_with)
        return self._json(
            start_response,
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            },
        )

    @staticmethod
    def _json(start_response, body, status="200 OK"):
        data = json.dumps(body).encode()
        start_response(
            status,
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(data))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [data]


@pytest.fixture
def provider():
    idp = TestProvider()
    server = make_server(
        "127.0.0.1", 0, idp, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    idp.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield idp
    server.shutdown()
    server.server_close()
    oidc.client.cache_clear()


@pytest.fixture
def sso(settings, provider):
    settings.RAPPORT_OIDC_ISSUER = provider.url
    settings.RAPPORT_OIDC_CLIENT_ID = CLIENT_ID
    settings.RAPPORT_OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.RAPPORT_OIDC_LABEL = "Test IdP"
    return provider


@pytest.fixture
def person(transactional_db):
    return UserFactory(username="ada", email="ada@example.com", role=RoleFactory(name="Rep"))


def claims_for(email, *, verified=True, **extra):
    return {"sub": f"sub-{email}", "email": email, "email_verified": verified, **extra}


def signed_in_user_id(browser: requests.Session) -> str | None:
    key = browser.cookies.get(django_settings.SESSION_COOKIE_NAME)
    if not key:
        return None
    store = import_module(django_settings.SESSION_ENGINE).SessionStore(session_key=key)
    return store.get(SESSION_KEY)


def sign_in_with_provider(live_server, next_path="/") -> tuple[requests.Session, requests.Response]:
    browser = requests.Session()
    browser.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"
    page = browser.get(f"{live_server.url}/accounts/login/", timeout=10)
    assert "Sign in with Test IdP" in page.text
    link = re.search(r'id="sign-in-sso" href="([^"]+)"', page.text).group(1)
    url = f"{live_server.url}{link}"
    if next_path != "/":
        url = f"{live_server.url}/accounts/login/sso/?next={urllib.parse.quote(next_path)}"
    response = browser.get(url, timeout=10)
    return browser, response


def test_the_whole_flow_signs_in_the_user_with_that_verified_email(live_server, sso, person):
    sso.identity = claims_for("Ada@Example.com")
    browser, response = sign_in_with_provider(live_server, next_path="/accounts/me/")

    # Rapport → provider /authorize → Rapport callback → the page asked for.
    hops = [r.url for r in response.history]
    assert hops[0].startswith(f"{live_server.url}/accounts/login/sso/")
    assert hops[1].startswith(f"{sso.url}/authorize?")
    assert hops[2].startswith(f"{live_server.url}/accounts/login/sso/callback/?code=")
    assert response.status_code == 200
    assert response.url == f"{live_server.url}/accounts/me/"
    assert signed_in_user_id(browser) == str(person.pk)
    # Recorded like a password sign-in: the session on My account, the throttle's success.
    assert UserSession.objects.filter(user=person).count() == 1
    assert "Firefox" in response.text
    assert LoginAttempt.objects.filter(username="ada", succeeded=True).exists()
    # The authorization code was used once and is gone.
    assert sso.codes == {}


def test_an_unknown_email_signs_nobody_in_and_creates_nobody(live_server, sso, person):
    sso.identity = claims_for("stranger@example.com")
    browser, response = sign_in_with_provider(live_server)
    assert response.url.startswith(f"{live_server.url}/accounts/login/")
    assert "No active Rapport account has your email address" in response.text
    assert signed_in_user_id(browser) is None
    assert not User.objects.filter(email="stranger@example.com").exists()
    assert LoginAttempt.objects.filter(username="stranger@example.com", succeeded=False).exists()


@pytest.mark.parametrize("verified", [False, None, "true"])
def test_an_unverified_email_is_refused(live_server, sso, person, verified):
    claims = claims_for("ada@example.com", verified=verified)
    if verified is None:
        del claims["email_verified"]
    sso.identity = claims
    browser, response = sign_in_with_provider(live_server)
    assert "has not verified your email address" in response.text
    assert signed_in_user_id(browser) is None


def test_a_deactivated_user_cannot_sign_in_this_way(live_server, sso, person):
    User.objects.filter(pk=person.pk).update(is_active=False)
    sso.identity = claims_for("ada@example.com")
    browser, response = sign_in_with_provider(live_server)
    assert "No active Rapport account has your email address" in response.text
    assert signed_in_user_id(browser) is None
    assert not UserSession.objects.filter(user=person).exists()


def test_a_wrong_state_is_refused(live_server, sso, person):
    sso.identity = claims_for("ada@example.com")
    sso.tamper_state = True
    browser, response = sign_in_with_provider(live_server)
    assert "The sign-in with Test IdP did not work" in response.text
    assert signed_in_user_id(browser) is None
    # Refused before the code was exchanged.
    assert len(sso.codes) == 1


def test_an_id_token_signed_with_another_key_is_refused(live_server, sso, person):
    sso.identity = claims_for("ada@example.com")
    sso.sign_with = RSAKey.generate_key(
        2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"}
    )
    browser, response = sign_in_with_provider(live_server)
    assert "The sign-in with Test IdP did not work" in response.text
    assert signed_in_user_id(browser) is None


def test_two_factor_still_asks_for_the_code(live_server, sso, person, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    device = TOTPDevice.objects.create(user=person, name="Authenticator app", confirmed=True)
    sso.identity = claims_for("ada@example.com", amr=["pwd", "mfa"])
    browser, response = sign_in_with_provider(live_server)
    # The provider's `amr` is not taken as the second factor: the code step comes next.
    assert response.url == f"{live_server.url}/accounts/login/code/"
    assert signed_in_user_id(browser) is None
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text).group(1)
    done = browser.post(
        response.url,
        data={"csrfmiddlewaretoken": token, "code": code_for(device)},
        headers={"Referer": response.url},
        timeout=10,
    )
    assert done.status_code == 200
    assert signed_in_user_id(browser) == str(person.pk)


def test_a_role_requiring_two_factor_sends_the_user_to_set_it_up(live_server, sso, person):
    person.role.requires_two_factor = True
    person.role.save()
    sso.identity = claims_for("ada@example.com")
    browser, response = sign_in_with_provider(live_server)
    assert response.url == f"{live_server.url}/accounts/me/two-factor/"
    assert signed_in_user_id(browser) == str(person.pk)


def test_creating_users_when_configured_gives_them_the_default_role(live_server, sso, settings):
    RoleFactory(name="Newcomer")
    settings.RAPPORT_OIDC_CREATE_USERS = True
    settings.RAPPORT_OIDC_DEFAULT_ROLE = "Newcomer"
    sso.identity = claims_for(
        "grace@example.com", preferred_username="grace", given_name="Grace", family_name="Hopper"
    )
    browser, _ = sign_in_with_provider(live_server)
    user = User.objects.get(email="grace@example.com")
    assert (user.username, user.role.name, user.get_full_name()) == (
        "grace",
        "Newcomer",
        "Grace Hopper",
    )
    assert not user.has_usable_password()
    assert signed_in_user_id(browser) == str(user.pk)


def test_without_settings_there_is_no_button_and_no_sso_pages(client, db):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert 'id="sign-in-sso"' not in page.content.decode()
    assert client.get("/accounts/login/sso/").status_code == 404
    assert client.get("/accounts/login/sso/callback/?code=x&state=y").status_code == 404


def test_explicit_endpoints_work_without_discovery(live_server, settings, provider, person):
    settings.RAPPORT_OIDC_ISSUER = provider.url
    settings.RAPPORT_OIDC_AUTHORIZATION_ENDPOINT = f"{provider.url}/authorize"
    settings.RAPPORT_OIDC_TOKEN_ENDPOINT = f"{provider.url}/token"
    settings.RAPPORT_OIDC_JWKS_URI = f"{provider.url}/jwks"
    settings.RAPPORT_OIDC_CLIENT_ID = CLIENT_ID
    settings.RAPPORT_OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.RAPPORT_OIDC_LABEL = "Test IdP"
    assert not oidc.provider().uses_discovery
    provider.identity = claims_for("ada@example.com")
    browser, _ = sign_in_with_provider(live_server)
    assert signed_in_user_id(browser) == str(person.pk)


def test_an_address_over_the_throttle_limit_is_refused(live_server, sso, person, settings):
    for _ in range(settings.RAPPORT_LOGIN_MAX_ATTEMPTS * 4):
        LoginAttempt.objects.create(username="someone", ip_address="127.0.0.1", succeeded=False)
    sso.identity = claims_for("ada@example.com")
    browser, response = sign_in_with_provider(live_server)
    assert "Too many failed attempts" in response.text
    assert signed_in_user_id(browser) is None
