"""Rapport's URLs plus the public mail endpoints at /m/, for the tests of tracking and sending
(until rapport/urls.py mounts them itself; then they are not added twice).
"""

from django.urls import include, path

from rapport.urls import handler403, handler404, handler500
from rapport.urls import urlpatterns as rapport_patterns

_mounted = any(getattr(pattern, "namespace", None) == "mail_public" for pattern in rapport_patterns)

urlpatterns = [
    *([] if _mounted else [path("m/", include("rapport.mail.public_urls"))]),
    *rapport_patterns,
]

__all__ = ["handler403", "handler404", "handler500", "urlpatterns"]
