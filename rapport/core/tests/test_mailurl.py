"""RAPPORT_SMTP_URL becomes Django's EMAIL_* settings, or a clear error; the mail key."""

import os
import subprocess
import sys
import tempfile

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from rapport.core.mailurl import local_sink_settings, mail_key, smtp_settings_from_url


def test_smtp_means_starttls_on_587_with_decoded_credentials():
    assert smtp_settings_from_url("smtp://ada%40example.com:p%40ss%3Aword@mail.example.com") == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "mail.example.com",
        "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "ada@example.com",
        "EMAIL_HOST_PASSWORD": "p@ss:word",
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
        "EMAIL_TIMEOUT": 30,
    }


def test_smtps_means_tls_on_465_and_an_explicit_port_wins():
    settings = smtp_settings_from_url("smtps://u:p@mail.example.com")
    assert (settings["EMAIL_PORT"], settings["EMAIL_USE_SSL"], settings["EMAIL_USE_TLS"]) == (
        465,
        True,
        False,
    )
    assert smtp_settings_from_url("smtps://u:p@mail.example.com:2465")["EMAIL_PORT"] == 2465


def test_tls_none_is_plain_text_on_25_and_timeout_is_read():
    settings = smtp_settings_from_url("smtp://relay.internal?tls=none&timeout=5")
    assert settings["EMAIL_PORT"] == 25
    assert settings["EMAIL_USE_TLS"] is settings["EMAIL_USE_SSL"] is False
    assert settings["EMAIL_HOST_USER"] == settings["EMAIL_HOST_PASSWORD"] == ""
    assert settings["EMAIL_TIMEOUT"] == 5.0
    assert smtp_settings_from_url("smtp://relay.internal:587?tls=starttls")["EMAIL_USE_TLS"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://mail.example.com", "use smtp:// (STARTTLS) or smtps:// (TLS)"),
        ("mail.example.com:587", "use smtp:// (STARTTLS) or smtps:// (TLS)"),
        ("smtp://:587", "there is no host name"),
        ("smtp://mail.example.com:port", "the port is not a number from 1 to 65535"),
        ("smtp://mail.example.com:70000", "the port is not a number from 1 to 65535"),
        ("smtp://mail.example.com:0", "the port is not a number from 1 to 65535"),
        ("smtp://mail.example.com/inbox", "a mail server URL has no path"),
        ("smtp://mail.example.com?tls=maybe", "tls='maybe' is not one of starttls, none"),
        ("smtps://mail.example.com?tls=none", "smtps:// is TLS from the first byte"),
        ("smtp://mail.example.com?ssl=1", "unknown option ssl (known: tls, timeout)"),
        ("smtp://mail.example.com?timeout=soon", "timeout='soon' is not a number of seconds"),
        ("smtp://:secret@mail.example.com", "there is a password but no user name"),
        ("smtp://[::1", "this is not a URL"),
    ],
)
def test_a_bad_url_names_the_setting_and_the_problem(url, problem):
    with pytest.raises(ImproperlyConfigured) as refused:
        smtp_settings_from_url(url)
    assert str(refused.value).startswith("RAPPORT_SMTP_URL=")
    assert problem in str(refused.value)


def test_an_error_never_shows_the_password():
    with pytest.raises(ImproperlyConfigured) as refused:
        smtp_settings_from_url("smtp://ada:hunter2@mail.example.com:99999")
    assert "hunter2" not in str(refused.value)
    assert "smtp://ada:***@mail.example.com:99999" in str(refused.value)


def test_the_local_sink_settings_point_at_this_machine():
    settings = local_sink_settings(8025)
    assert (settings["EMAIL_HOST"], settings["EMAIL_PORT"]) == ("127.0.0.1", 8025)
    assert settings["EMAIL_USE_TLS"] is settings["EMAIL_USE_SSL"] is False


def test_the_mail_key_is_derived_from_the_secret_key_unless_set():
    derived = mail_key(configured="", secret_key="one secret")
    assert Fernet(derived).decrypt(Fernet(derived).encrypt(b"imap password")) == b"imap password"
    assert derived == mail_key(configured="  ", secret_key="one secret")
    assert derived != mail_key(configured="", secret_key="another secret")
    assert derived != "one secret"
    own = "a long random string of more than 32 characters"
    assert mail_key(configured=own, secret_key="one secret") == own


def test_a_short_mail_key_is_refused():
    with pytest.raises(ImproperlyConfigured, match=r"RAPPORT_MAIL_KEY is too short \(9 char"):
        mail_key(configured="too-short", secret_key="x")


def settings_value(name: str, **environment) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    env.pop("DATABASE_URL", None)
    env.update(
        environment,
        DJANGO_SETTINGS_MODULE="rapport.settings",
        RAPPORT_VAR_DIR=tempfile.mkdtemp(prefix="rapport-settings-"),
    )
    code = f"from django.conf import settings; print(settings.{name})"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )


def test_without_a_url_django_mail_goes_to_the_local_sink():
    assert settings_value("EMAIL_HOST, settings.EMAIL_PORT").stdout.split() == [
        "127.0.0.1",
        "8025",
    ]
    moved = settings_value("EMAIL_PORT", RAPPORT_MAIL_SINK_PORT="2525")
    assert moved.stdout.strip() == "2525"


def test_a_url_in_the_environment_sets_django_mail_and_a_bad_one_stops_startup():
    good = settings_value(
        "EMAIL_HOST, settings.EMAIL_USE_SSL", RAPPORT_SMTP_URL="smtps://u:p@mail.example.com"
    )
    assert good.stdout.split() == ["mail.example.com", "True"]
    bad = settings_value("EMAIL_HOST", RAPPORT_SMTP_URL="smtp://u:p@mail.example.com?tls=yes")
    assert bad.returncode != 0
    assert "RAPPORT_SMTP_URL='smtp://u:***@mail.example.com?tls=yes': tls='yes'" in bad.stderr
    port = settings_value("EMAIL_PORT", RAPPORT_MAIL_SINK_PORT="mail")
    assert "RAPPORT_MAIL_SINK_PORT='mail' is not a port number" in port.stderr
