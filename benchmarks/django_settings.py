"""Django settings for the benchmarks: Rapport's own, with plain static-file URLs.

The production storage needs `collectstatic` and its manifest before any page renders; the
benchmarks time pages, not static files, so they skip that step. Everything else — middleware,
database options, sessions — is exactly what `rapport serve` runs.
"""

from rapport.settings import *  # noqa: F403
from rapport.settings import STORAGES

STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
