"""Top-level URLs: each app's pages under its prefix, the API under /api/v1/."""

from importlib import import_module
from importlib.util import find_spec

from django.urls import include, path

from rapport.api import api

APP_URLS = [
    ("", "rapport.core"),
    ("accounts/", "rapport.accounts"),
    ("audit/", "rapport.audit"),
    ("custom-fields/", "rapport.customfields"),
    ("", "rapport.contacts"),
    ("interactions/", "rapport.interactions"),
    ("sales/", "rapport.sales"),
    ("commerce/", "rapport.commerce"),
    ("data/", "rapport.data_exchange"),
    ("analytics/", "rapport.analytics"),
    ("models/", "rapport.frameworks"),
    ("privacy/", "rapport.privacy"),
    ("mail/", "rapport.mail"),
    ("automation/", "rapport.automation"),
    ("sequences/", "rapport.sequences"),
    ("reports/", "rapport.reports"),
]

urlpatterns = [
    # No Django admin mount: administration is Rapport's own pages, and a second password form
    # would sit outside the sign-in throttle.
    path("api/v1/", api.urls),
    # Mail's public endpoints (open pixel, tracked links, one-click unsubscribe): short, signed
    # links that recipients follow without signing in.
    path("m/", include("rapport.mail.public_urls")),
]

for prefix, package in APP_URLS:
    if find_spec(f"{package}.urls") is not None:
        module = import_module(f"{package}.urls")
        urlpatterns.append(path(prefix, include((module.urlpatterns, module.app_name))))

handler403 = "rapport.core.views.permission_denied"
handler404 = "rapport.core.views.not_found"
handler500 = "rapport.core.views.server_error"
