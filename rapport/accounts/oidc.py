"""OpenID Connect single sign-on: the provider's configuration and who its sign-in is.

Off unless `RAPPORT_OIDC_CLIENT_ID` and either `RAPPORT_OIDC_ISSUER` (the discovery document
`<issuer>/.well-known/openid-configuration` is read) or the three explicit endpoints are set.
The protocol (state, nonce, PKCE S256, the code exchange, the id_token's RS256 signature from
the provider's JWKS, its issuer, audience and expiry) is authlib's Django client; this module
decides who the verified claims are: an active user with the same email address, which the
provider must say it verified. Nobody is created unless `RAPPORT_OIDC_CREATE_USERS=1`.

The views are in `views_oidc`; the sign-in then ends like a password sign-in (the two-factor
code step, the session list, the throttle's success record).
"""

import dataclasses
import functools
import logging
import re

from authlib.integrations.django_client import OAuth
from django.conf import settings
from django.core.exceptions import ValidationError

from rapport.accounts.models import Role, User
from rapport.accounts.services import create_user

log = logging.getLogger(__name__)

# The name authlib stores the state, nonce and PKCE verifier under in the session.
CLIENT_NAME = "rapport_oidc"
NOT_A_USERNAME_CHARACTER = re.compile(r"[^\w.@+-]")
# Unknown and deactivated addresses get the same answer.
NO_ACCOUNT = "No active Rapport account has your email address; ask an administrator."


class SignInRefused(Exception):
    """The provider's sign-in is valid but names nobody who may sign in here."""

    def __init__(self, message: str, *, email: str = ""):
        super().__init__(message)
        self.message = message
        self.email = email


@dataclasses.dataclass(frozen=True)
class Provider:
    client_id: str
    client_secret: str
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    label: str
    scopes: str

    @property
    def uses_discovery(self) -> bool:
        return not (self.authorization_endpoint and self.token_endpoint and self.jwks_uri)


def provider() -> Provider | None:
    """The configured provider, or None when single sign-on is off."""
    client_id = getattr(settings, "RAPPORT_OIDC_CLIENT_ID", "").strip()
    issuer = getattr(settings, "RAPPORT_OIDC_ISSUER", "").strip().rstrip("/")
    endpoints = [
        getattr(settings, name, "").strip()
        for name in (
            "RAPPORT_OIDC_AUTHORIZATION_ENDPOINT",
            "RAPPORT_OIDC_TOKEN_ENDPOINT",
            "RAPPORT_OIDC_JWKS_URI",
        )
    ]
    if not client_id or not (issuer or all(endpoints)):
        return None
    return Provider(
        client_id=client_id,
        client_secret=getattr(settings, "RAPPORT_OIDC_CLIENT_SECRET", ""),
        issuer=issuer,
        authorization_endpoint=endpoints[0],
        token_endpoint=endpoints[1],
        jwks_uri=endpoints[2],
        label=getattr(settings, "RAPPORT_OIDC_LABEL", "") or "single sign-on",
        scopes=getattr(settings, "RAPPORT_OIDC_SCOPES", "") or "openid email profile",
    )


@functools.lru_cache(maxsize=4)
def client(config: Provider):
    """authlib's client for `config`; it keeps the discovery document and keys once read."""
    options = {
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "client_kwargs": {
            "scope": config.scopes,
            "code_challenge_method": "S256",
            "default_timeout": 10,
        },
    }
    if config.uses_discovery:
        options["server_metadata_url"] = f"{config.issuer}/.well-known/openid-configuration"
    else:
        # authlib keeps its other keyword arguments as the server's metadata.
        options["authorization_endpoint"] = config.authorization_endpoint
        options["token_endpoint"] = config.token_endpoint
        options["jwks_uri"] = config.jwks_uri
        options["id_token_signing_alg_values_supported"] = ["RS256"]
        if config.issuer:
            options["issuer"] = config.issuer
    registry = OAuth()
    registry.register(CLIENT_NAME, overwrite=False, **options)
    return registry.create_client(CLIENT_NAME)


def check_discovered_issuer(config: Provider, oauth_client) -> None:
    """The discovery document must name the issuer it was read from (OpenID Discovery §4.3);
    its `issuer` is then the only `iss` authlib accepts in an id_token."""
    if not config.uses_discovery:
        return
    found = str(oauth_client.load_server_metadata().get("issuer", "")).rstrip("/")
    if found != config.issuer:
        raise ValueError(
            f"The discovery document names the issuer {found!r}, not {config.issuer!r}."
        )


def _new_username(claims: dict, email: str) -> str:
    wanted = NOT_A_USERNAME_CHARACTER.sub("", str(claims.get("preferred_username") or email))
    base = (wanted or email)[:140]
    name, number = base, 1
    while User.objects.filter(username__iexact=name).exists():
        number += 1
        name = f"{base}-{number}"
    return name


def _create_user(claims: dict, email: str) -> User:
    role = None
    role_name = getattr(settings, "RAPPORT_OIDC_DEFAULT_ROLE", "").strip()
    if role_name:
        role = Role.objects.filter(name=role_name).first()
        if role is None:
            log.error("RAPPORT_OIDC_DEFAULT_ROLE names no role: %r", role_name)
            raise SignInRefused(
                "Your account cannot be created here yet; ask an administrator.", email=email
            )
    try:
        # actor=None: the system creates the account (audited as such), no password set.
        return create_user(
            actor=None,
            username=_new_username(claims, email),
            email=email,
            role=role,
            first_name=str(claims.get("given_name") or "")[:150],
            last_name=str(claims.get("family_name") or "")[:150],
        )
    except ValidationError as exc:
        log.warning("Single sign-on could not create a user for %s: %s", email, exc.messages)
        raise SignInRefused(
            "Your account cannot be created here; ask an administrator.", email=email
        ) from exc


def user_for_claims(claims: dict) -> User:
    """The active user the verified id_token claims name, matched by the verified email
    address; or `SignInRefused`."""
    email = str(claims.get("email") or "").strip().lower()
    if not email:
        raise SignInRefused("Your provider did not tell Rapport your email address.")
    # Only a JSON true: a provider that does not vouch for the address proves nothing about it.
    if claims.get("email_verified") is not True:
        raise SignInRefused(
            "Your provider has not verified your email address, so Rapport cannot match it.",
            email=email,
        )
    matches = list(User.objects.filter(email__iexact=email).select_related("role")[:2])
    if len(matches) > 1:
        raise SignInRefused("More than one account has your email address.", email=email)
    if matches:
        user = matches[0]
        if not user.is_active:
            raise SignInRefused(NO_ACCOUNT, email=email)
        return user
    if not getattr(settings, "RAPPORT_OIDC_CREATE_USERS", False):
        raise SignInRefused(NO_ACCOUNT, email=email)
    return _create_user(claims, email)
