"""Reading pages in view tests as a browser ends up showing them."""

import html as html_lib
import re

# The placeholder `core/_panel.html` leaves for a panel the page loads after itself.
DEFERRED_PANEL = re.compile(
    r'<section [^>]*hx-get="(?P<url>[^"]+)" hx-trigger="load" hx-swap="outerHTML">.*?</section>',
    re.S,
)


def page_with_panels(client, url: str, **extra) -> str:
    """The page at `url` with each deferred panel fetched (as its `hx-trigger="load"` does) and
    put in its placeholder's place. Every answer must be a 200."""
    response = client.get(url, **extra)
    assert response.status_code == 200, (url, response.status_code)

    def load(match: re.Match) -> str:
        panel_url = html_lib.unescape(match.group("url"))
        panel = client.get(panel_url, HTTP_HX_REQUEST="true")
        assert panel.status_code == 200, (panel_url, panel.status_code)
        return panel.content.decode()

    return DEFERRED_PANEL.sub(load, response.content.decode())
