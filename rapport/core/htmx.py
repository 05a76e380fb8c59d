"""One URL, two renderings: the whole page for a browser, only the changed fragment for HTMX."""

import logging

from django.shortcuts import render
from django.utils.cache import patch_vary_headers

logger = logging.getLogger(__name__)


def is_htmx(request) -> bool:
    """True for an HTMX request that will swap a fragment into the page.

    A history-restore request (back button with an empty htmx cache) wants the whole page.
    """
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render_page_or_fragment(
    request, page_template: str, fragment_template: str, context: dict, *, status: int = 200
):
    """Render `fragment_template` for HTMX, else `page_template` (which includes the fragment).

    `Vary: HX-Request` keeps caches and the browser's back button from serving a fragment as
    if it were the page.
    """
    template = fragment_template if is_htmx(request) else page_template
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def panel_entries(entity: str, request, obj, *, deferred=None) -> list[dict]:
    """The registered panels of `entity` that have something to show for `obj`, in order.

    A panel whose context function fails is logged and shown as "could not be shown": one
    app's bug must not take every 360° page down with it. A panel for which `deferred(panel)`
    is true is not computed here: its entry carries the URL the page loads it from once shown
    (`deferred_url`, given by the page), so the page's first answer does not wait for it.
    """
    from rapport.core import registry

    entries = []
    for panel in registry.panels.get(entity, []):
        if deferred is not None and (url := deferred(panel)):
            entries.append({"panel": panel, "context": {}, "deferred_url": url})
            continue
        try:
            context = panel.context(request, obj)
        except Exception:
            logger.exception("panel %s/%s failed", entity, panel.key)
            entries.append({"panel": panel, "context": {}, "failed": True})
            continue
        if context is not None:
            entries.append({"panel": panel, "context": context})
    return entries


def render_deferred_panel(request, entity: str, key: str, obj, *, extra: dict | None = None):
    """A panel the page deferred (`panel_entries(deferred=...)`), answered on its own: the
    panel, "could not be shown" when it fails, or nothing (the placeholder goes) when it has
    nothing to show. 404 for a panel `entity` does not have."""
    from django.http import Http404, HttpResponse

    from rapport.core import registry

    panel = next((p for p in registry.panels.get(entity, []) if p.key == key), None)
    if panel is None:
        raise Http404("No such panel.")
    try:
        context = panel.context(request, obj)
    except Exception:
        logger.exception("panel %s/%s failed", entity, key)
        entry = {"panel": panel, "context": {}, "failed": True}
    else:
        if context is None:
            return HttpResponse("")
        entry = {"panel": panel, "context": context}
    response = render(request, "core/_panel.html", {"entry": entry, "object": obj, **(extra or {})})
    patch_vary_headers(response, ["HX-Request"])
    return response


def render_panel(
    request,
    entity: str,
    key: str,
    obj,
    *,
    overrides: dict | None = None,
    extra: dict | None = None,
    status: int = 200,
):
    """One panel of a 360° page, re-rendered for an HTMX swap (`#panel-<key>`, outerHTML).

    `overrides` replace parts of the panel's own context (e.g. a bound form with its errors);
    `extra` goes to the page-level context the panel template also sees (e.g. `can_edit`).
    """
    from rapport.core import registry

    panel = next(p for p in registry.panels.get(entity, []) if p.key == key)
    context = {**(panel.context(request, obj) or {}), **(overrides or {})}
    response = render(
        request,
        "core/_panel.html",
        {
            "entry": {"panel": panel, "context": context},
            "object": obj,
            **(extra or {}),
        },
        status=status,
    )
    patch_vary_headers(response, ["HX-Request"])
    return response
