"""Django settings for Rapport, read from the environment (see `.env.example`)."""

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from rapport.core.http import parse_trusted_proxies

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


VAR_DIR = Path(os.environ.get("RAPPORT_VAR_DIR", BASE_DIR / "var"))
DEBUG = env_bool("RAPPORT_DEBUG", False)
DEVELOPMENT_SECRET_KEY = "insecure-development-key-change-me"  # noqa: S105 - public on purpose
SECRET_KEY = os.environ.get("RAPPORT_SECRET_KEY", DEVELOPMENT_SECRET_KEY)
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "testserver", "::1", "[::1]"})
ALLOWED_HOSTS = env_list("RAPPORT_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")


def is_production(*, allowed_hosts: list[str], https: bool, explicit: str | None) -> bool:
    """Production is what other people reach: served over HTTPS or answering a host name other
    than this machine's. RAPPORT_PRODUCTION=1/0 says so outright."""
    if explicit is not None and explicit.strip():
        return explicit.strip().lower() in {"1", "true", "yes", "on"}
    return https or any(host not in LOCAL_HOSTS for host in allowed_hosts)


def check_production_settings(*, production: bool, debug: bool, secret_key: str) -> None:
    """Refuse to start a production server that anyone could forge sessions on (the development
    key is public) or that shows debug pages with settings and source to strangers."""
    if not production:
        return
    problems = []
    if secret_key == DEVELOPMENT_SECRET_KEY:
        problems.append(
            "RAPPORT_SECRET_KEY is the public development key; set a long random one "
            '(python -c "import secrets; print(secrets.token_urlsafe(60))").'
        )
    if debug:
        problems.append("RAPPORT_DEBUG is on; debug pages show settings and code to anyone.")
    if problems:
        raise ImproperlyConfigured(
            "Rapport refuses to start in production mode (RAPPORT_HTTPS=1 or a non-local "
            "RAPPORT_ALLOWED_HOSTS): " + " ".join(problems)
        )


PRODUCTION = is_production(
    allowed_hosts=ALLOWED_HOSTS,
    https=env_bool("RAPPORT_HTTPS", False),
    explicit=os.environ.get("RAPPORT_PRODUCTION"),
)
check_production_settings(production=PRODUCTION, debug=DEBUG, secret_key=SECRET_KEY)
CSRF_TRUSTED_ORIGINS = env_list("RAPPORT_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_tasks",
    "django_tasks_db",
    "ninja",
    "rapport.core",
    "rapport.accounts",
    "rapport.audit",
    "rapport.customfields",
    "rapport.contacts",
    "rapport.interactions",
    "rapport.sales",
    "rapport.commerce",
    "rapport.data_exchange",
    "rapport.analytics",
    "rapport.frameworks",
    "rapport.privacy",
    "rapport.mail",
    "rapport.automation",
    "rapport.sequences",
    "rapport.reports",
    "rapport.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "rapport.core.middleware.RequestIdMiddleware",
    "rapport.core.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Outside the idempotency middleware, which must see only the view's own Cache-Control.
    "rapport.core.middleware.PrivateResponseMiddleware",
    "rapport.accounts.middleware.UserSessionMiddleware",
    "rapport.accounts.middleware.TwoFactorSetupMiddleware",
    "rapport.core.idempotency.IdempotencyMiddleware",
    "rapport.core.middleware.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "rapport.core.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "rapport.urls"
WSGI_APPLICATION = "rapport.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "accounts:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "rapport" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "rapport.core.context_processors.navigation",
            ],
        },
    }
]

DEFAULT_SQLITE_URL = f"sqlite:///{VAR_DIR / 'rapport.sqlite3'}"
if "DATABASE_URL" not in os.environ:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", DEFAULT_SQLITE_URL),
        conn_max_age=int(os.environ.get("RAPPORT_DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the task worker writes; IMMEDIATE avoids
    # "database is locked" upgrades from read to write inside a transaction.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA cache_size=-64000; PRAGMA mmap_size=268435456;"
        ),
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0 if os.environ.get("RAPPORT_TESTING") else 600
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
else:
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
TASKS_BACKEND = os.environ.get("RAPPORT_TASKS_BACKEND", "database")
# A job whose worker stopped being seen for this long is queued again, up to this many runs.
RAPPORT_TASK_LEASE_SECONDS = float(os.environ.get("RAPPORT_TASK_LEASE_SECONDS", "60"))
RAPPORT_TASK_MAX_ATTEMPTS = int(os.environ.get("RAPPORT_TASK_MAX_ATTEMPTS", "3"))
if TASKS_BACKEND == "rq":
    INSTALLED_APPS.append("django_rq")
    RQ_QUEUES = {"default": {"URL": REDIS_URL}}
    # django-tasks-rq's backend, plus an outbox in the database so a wiped Redis loses no job.
    TASKS = {
        "default": {"BACKEND": "rapport.core.durability.DurableRQBackend", "QUEUES": ["default"]}
    }
elif TASKS_BACKEND == "immediate":
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "rapport_cache",
        # Report and widget figures are kept per reader's scope: more than the default 300.
        "OPTIONS": {"MAX_ENTRIES": 5000},
    }
}
if os.environ.get("RAPPORT_CACHE") == "redis":
    CACHES["default"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# How pages write dates, numbers and money ("de_DE", "en-gb"); empty: the locale LANGUAGE_CODE names.
RAPPORT_LOCALE = os.environ.get("RAPPORT_LOCALE", "")
TIME_ZONE = os.environ.get("RAPPORT_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "rapport" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if os.environ.get("RAPPORT_TESTING"):
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
MEDIA_ROOT = VAR_DIR / "media"
WHITENOISE_USE_FINDERS = DEBUG

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if env_bool("RAPPORT_HTTPS", False):
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("RAPPORT_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Load balancers and reverse proxies whose X-Forwarded-For is believed (IPs or CIDRs,
# comma-separated); see rapport.core.http.client_address. Empty: REMOTE_ADDR is the client.
RAPPORT_TRUSTED_PROXIES = parse_trusted_proxies(os.environ.get("RAPPORT_TRUSTED_PROXIES", ""))

# Two-factor sign-in: the name authenticator apps show beside the code.
OTP_TOTP_ISSUER = os.environ.get("RAPPORT_TOTP_ISSUER", "Rapport")

# OpenID Connect single sign-on (rapport.accounts.oidc): off unless a client id and either an
# issuer (its discovery document is read) or the three explicit endpoints are set.
RAPPORT_OIDC_ISSUER = os.environ.get("RAPPORT_OIDC_ISSUER", "").strip().rstrip("/")
RAPPORT_OIDC_AUTHORIZATION_ENDPOINT = os.environ.get("RAPPORT_OIDC_AUTHORIZATION_ENDPOINT", "")
RAPPORT_OIDC_TOKEN_ENDPOINT = os.environ.get("RAPPORT_OIDC_TOKEN_ENDPOINT", "")
RAPPORT_OIDC_JWKS_URI = os.environ.get("RAPPORT_OIDC_JWKS_URI", "")
RAPPORT_OIDC_CLIENT_ID = os.environ.get("RAPPORT_OIDC_CLIENT_ID", "")
RAPPORT_OIDC_CLIENT_SECRET = os.environ.get("RAPPORT_OIDC_CLIENT_SECRET", "")
RAPPORT_OIDC_LABEL = os.environ.get("RAPPORT_OIDC_LABEL", "") or "single sign-on"
RAPPORT_OIDC_SCOPES = os.environ.get("RAPPORT_OIDC_SCOPES", "") or "openid email profile"
RAPPORT_OIDC_CREATE_USERS = env_bool("RAPPORT_OIDC_CREATE_USERS", False)
RAPPORT_OIDC_DEFAULT_ROLE = os.environ.get("RAPPORT_OIDC_DEFAULT_ROLE", "")

# Login throttling: attempts allowed per window, per account and per client address.
RAPPORT_LOGIN_MAX_ATTEMPTS = int(os.environ.get("RAPPORT_LOGIN_MAX_ATTEMPTS", "5"))
RAPPORT_LOGIN_WINDOW_SECONDS = int(os.environ.get("RAPPORT_LOGIN_WINDOW_SECONDS", "900"))

# The business's own currency: revenue, RFM and CLV are measured in it (ISO 4217 code).
RAPPORT_CURRENCY = os.environ.get("RAPPORT_CURRENCY", "EUR").strip().upper() or "EUR"
if not (len(RAPPORT_CURRENCY) == 3 and RAPPORT_CURRENCY.isalpha() and RAPPORT_CURRENCY.isascii()):
    raise ImproperlyConfigured(
        f"RAPPORT_CURRENCY={RAPPORT_CURRENCY!r} is not a currency code: use three letters, e.g. EUR."
    )
# Web-form submissions accepted per client address per minute, over all forms.
RAPPORT_WEBFORM_IP_RATE = int(os.environ.get("RAPPORT_WEBFORM_IP_RATE", "20"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("RAPPORT_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # aiosmtpd (the local mail sink) logs every connection at INFO, readiness probes too.
        "mail.log": {"level": "WARNING"},
    },
}

# Mail (rapport.mail). Outgoing mail goes to the SMTP server RAPPORT_SMTP_URL names, e.g.
# smtp://user:pass@smtp.example.com:587 (STARTTLS) or smtps://user:pass@smtp.example.com (TLS);
# see rapport.core.mailurl. Unset, `rapport serve` starts a local sink on 127.0.0.1 that keeps
# every message under var/mail/delivered (Mail → Delivered here) and sends nothing out.
from rapport.core.mailurl import local_sink_settings, mail_key, smtp_settings_from_url  # noqa: E402

RAPPORT_SMTP_URL = os.environ.get("RAPPORT_SMTP_URL", "").strip()
try:
    RAPPORT_MAIL_SINK_PORT = int(os.environ.get("RAPPORT_MAIL_SINK_PORT", "8025"))
except ValueError:
    RAPPORT_MAIL_SINK_PORT = 0
if not 0 < RAPPORT_MAIL_SINK_PORT < 65536:
    raise ImproperlyConfigured(
        f"RAPPORT_MAIL_SINK_PORT={os.environ.get('RAPPORT_MAIL_SINK_PORT')!r} is not a port "
        "number from 1 to 65535."
    )
RAPPORT_MAIL_SINK_DIR = Path(
    os.environ.get("RAPPORT_MAIL_SINK_DIR", "") or VAR_DIR / "mail" / "delivered"
)
# Encrypts the mailbox passwords Rapport stores (rapport.mail.secrets). Unset, it is derived
# from SECRET_KEY (rapport.core.mailurl.mail_key says why that is acceptable); production
# should set its own, so rotating SECRET_KEY does not make stored mailbox passwords unreadable.
RAPPORT_MAIL_KEY = mail_key(
    configured=os.environ.get("RAPPORT_MAIL_KEY", ""), secret_key=SECRET_KEY
)
# The address people reach this Rapport at, e.g. https://crm.example.com: links in mail (tracking,
# one-click unsubscribe) and the passkeys' relying party are built from it. Unset, the request's
# own host is used where there is a request, and http://127.0.0.1:8000 in mail.
RAPPORT_PUBLIC_URL = os.environ.get("RAPPORT_PUBLIC_URL", "").strip().rstrip("/")
# The right-hand side of the Message-IDs Rapport writes.
RAPPORT_MAIL_DOMAIN = (
    os.environ.get("RAPPORT_MAIL_DOMAIN", "").strip()
    or (urlsplit(RAPPORT_PUBLIC_URL).hostname if RAPPORT_PUBLIC_URL else "")
    or "rapport.localhost"
)
# Seconds between two checks of each mailbox for new mail (at least 10).
RAPPORT_MAIL_POLL_SECONDS = int(os.environ.get("RAPPORT_MAIL_POLL_SECONDS", "60"))
# With an IMAP IDLE listener live on a mailbox, the poll is only a safety net after this long.
RAPPORT_MAIL_IDLE_POLL_SECONDS = int(os.environ.get("RAPPORT_MAIL_IDLE_POLL_SECONDS", "900"))
# IDLE is renewed before servers drop it (RFC 2177: at most 29 minutes).
RAPPORT_MAIL_IDLE_RENEW_SECONDS = int(os.environ.get("RAPPORT_MAIL_IDLE_RENEW_SECONDS", "1500"))
# How often the listener re-reads which mailboxes to watch.
RAPPORT_MAIL_IDLE_REFRESH_SECONDS = int(os.environ.get("RAPPORT_MAIL_IDLE_REFRESH_SECONDS", "60"))
# Attachments are stored under MEDIA_ROOT; nothing serves MEDIA_URL publicly, they are
# downloaded through views that check who may see the message.
MEDIA_URL = "/media/"
# Django's own mail (password resets, error mails) takes the same road as Rapport's.
_email = (
    smtp_settings_from_url(RAPPORT_SMTP_URL)
    if RAPPORT_SMTP_URL
    else local_sink_settings(RAPPORT_MAIL_SINK_PORT)
)
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email["EMAIL_HOST"]
EMAIL_PORT = _email["EMAIL_PORT"]
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
EMAIL_TIMEOUT = _email["EMAIL_TIMEOUT"]
DEFAULT_FROM_EMAIL = (
    os.environ.get("RAPPORT_DEFAULT_FROM_EMAIL", "").strip()
    or f"Rapport <rapport@{RAPPORT_MAIL_DOMAIN}>"
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL
