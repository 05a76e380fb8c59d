"""The home page, health check and error pages."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone

from rapport.core.htmx import panel_entries


@login_required
def home(request):
    """The home dashboard: every widget comes from an app, through the panel registry under
    "home" (core knows no CRM nouns). "top" widgets span the page above the others (the user's
    dashboard), "main" ones take the wide column, the rest the side."""
    widgets = panel_entries("home", request, None)
    return render(
        request,
        "core/home.html",
        {
            "top_widgets": [w for w in widgets if w["panel"].column == "top"],
            "main_widgets": [w for w in widgets if w["panel"].column == "main"],
            "side_widgets": [w for w in widgets if w["panel"].column not in ("main", "top")],
            "today": timezone.localdate(),
        },
    )


def health(request):
    """For load balancers: 200 when the database answers, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        response = JsonResponse({"status": "unavailable"}, status=503)
        response["Retry-After"] = "30"
        return response
    return JsonResponse({"status": "ok"})


def not_found(request, exception=None):
    return render(request, "core/404.html", status=404)


def permission_denied(request, exception=None):
    # A PermissionDenied raised by a service carries a sentence meant for the user; Django's own
    # (CSRF and the like) carry none worth showing.
    reason = str(exception) if exception is not None and str(exception) else ""
    return render(request, "core/403.html", {"reason": reason}, status=403)


def server_error(request):
    return render(request, "core/500.html", status=500)
