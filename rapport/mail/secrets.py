"""Mailbox passwords encrypted at rest with a key from the environment (RAPPORT_MAIL_KEY).

Fernet (AES-128-CBC with HMAC-SHA256) from `cryptography`: authenticated, so a tampered value
is refused rather than decrypted to garbage. The key is stretched with HKDF so any long random
string works as RAPPORT_MAIL_KEY; a changed key makes stored passwords unreadable, which the
mailbox page reports as "enter the password again" instead of failing every sync silently.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretUnreadable(Exception):
    """A stored secret could not be decrypted (the key changed or the value was altered)."""


@functools.cache
def _fernet(key_material: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"rapport-mail-secrets", info=b"mailbox"
    ).derive(key_material.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def _key() -> str:
    return settings.RAPPORT_MAIL_KEY


def encrypt(plain: str) -> str:
    if not plain:
        return ""
    return _fernet(_key()).encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet(_key()).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "The stored password cannot be read with this server's RAPPORT_MAIL_KEY; "
            "enter it again."
        ) from None
