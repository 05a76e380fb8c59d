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


def _entry(entity: str, panel, request, obj, overrides: dict | None = None) -> dict | None:
    """One panel's entry: its context (with `overrides` on top), "could not be shown" when the
    context function fails, or None when the panel has nothing to show for `obj`.

    A failing panel is logged, not raised: one app's bug must not take every 360° page down.
    """
    try:
        context = panel.context(request, obj)
    except Exception:
        logger.exception("panel %s/%s failed", entity, panel.key)
        return {"panel": panel, "context": {}, "failed": True}
    if context is None:
        return None
    return {"panel": panel, "context": {**context, **(overrides or {})}}


def panel_entries(entity: str, request, obj, *, deferred=None) -> list[dict]:
    """The registered panels of `entity` that have something to show for `obj`, in order.

    A panel for which `deferred(panel)` is true is not computed here: its entry carries the URL
    the page loads it from once shown (`deferred_url`, given by the page), so the page's first
    answer does not wait for it.
    """
    from rapport.core import registry

    entries = []
    for panel in registry.panels.get(entity, []):
        if deferred is not None and (url := deferred(panel)):
            entries.append({"panel": panel, "context": {}, "deferred_url": url})
            continue
        entry = _entry(entity, panel, request, obj)
        if entry is not None:
            entries.append(entry)
    return entries


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
    """One panel of a 360° page, answered on its own for an HTMX swap (`#panel-<key>`,
    outerHTML): after a change made on it, or when the page deferred it.

    The panel as the page would show it: "could not be shown" when it fails, nothing (the
    placeholder goes) when it has nothing to show; 404 for a panel `entity` does not have.
    `overrides` replace parts of the panel's own context (e.g. a bound form with its errors);
    `extra` goes to the page-level context the panel template also sees (e.g. `can_edit`).
    """
    from django.http import Http404, HttpResponse

    from rapport.core import registry

    panel = next((p for p in registry.panels.get(entity, []) if p.key == key), None)
    if panel is None:
        raise Http404("No such panel.")
    entry = _entry(entity, panel, request, obj, overrides)
    if entry is None:
        response = HttpResponse("", status=status)
    else:
        response = render(
            request,
            "core/_panel.html",
            {"entry": entry, "object": obj, **(extra or {})},
            status=status,
        )
    patch_vary_headers(response, ["HX-Request"])
    return response


def render_deferred_panel(request, entity: str, key: str, obj, *, extra: dict | None = None):
    """A panel the page deferred (`panel_entries(deferred=...)`), loaded once the page shows."""
    return render_panel(request, entity, key, obj, extra=extra)
