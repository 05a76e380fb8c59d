"""One panel answered on its own (`core.htmx.render_panel`): after a change made on it and when
the page deferred it, the same way as on the page."""

import pytest
from django.http import Http404
from django.test import RequestFactory

from rapport.core import registry
from rapport.core.htmx import panel_entries, render_deferred_panel, render_panel
from rapport.core.registry import Panel

ENTITY = "htmx_test_thing"
TEMPLATE = "contacts/panels/home_recent_contacts.html"


def _broken(request, obj):
    raise RuntimeError("a panel's bug")


@pytest.fixture
def panels(monkeypatch):
    monkeypatch.setitem(
        registry.panels,
        ENTITY,
        [
            Panel("recent", "Recent", TEMPLATE, lambda request, obj: {"contacts": []}),
            Panel("broken", "Broken", TEMPLATE, _broken),
            Panel("hidden", "Hidden", TEMPLATE, lambda request, obj: None),
        ],
    )


@pytest.fixture
def request_():
    return RequestFactory().get("/")


def test_a_panel_shows_with_its_overrides(panels, request_):
    response = render_panel(request_, ENTITY, "recent", None, overrides={"can_write": True})

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="panel-recent"' in html and "Add a contact" in html
    assert response["Vary"] == "HX-Request"


def test_a_failing_panel_says_so_instead_of_failing_the_answer(panels, request_):
    for render in (render_panel, render_deferred_panel):
        response = render(request_, ENTITY, "broken", None)

        assert response.status_code == 200
        assert "This panel could not be shown" in response.content.decode()


def test_a_panel_with_nothing_to_show_answers_empty(panels, request_):
    for render in (render_panel, render_deferred_panel):
        response = render(request_, ENTITY, "hidden", None)

        assert (response.status_code, response.content) == (200, b"")


def test_an_unknown_panel_is_404(panels, request_):
    for render in (render_panel, render_deferred_panel):
        with pytest.raises(Http404):
            render(request_, ENTITY, "nonesuch", None)


def test_the_page_lists_the_same_entries(panels, request_):
    entries = panel_entries(ENTITY, request_, None)

    assert [(e["panel"].key, e.get("failed", False)) for e in entries] == [
        ("recent", False),
        ("broken", True),
    ]
