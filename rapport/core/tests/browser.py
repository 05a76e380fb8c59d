"""Shared Playwright fixtures for browser tests (real Chromium against pytest-django's live_server).

The root conftest lists this module in `pytest_plugins`, so every test module sees these
fixtures once. Never import them into a test module: each import would make a second
session-wide browser, and Playwright refuses a second sync API loop in one thread.

    @pytest.mark.browser
    def test_something(signed_in_page, owner):
        page = signed_in_page(owner)
        page.goto("/contacts/")

- `chromium`: one browser per test session (skips when /usr/bin/chromium is missing).
- `browser_page`: a fresh context and page per test, with `base_url` set to the live server so
  `page.goto("/contacts/")` works. The page collects JavaScript errors, console errors and
  Content-Security-Policy violations (console messages and `securitypolicyviolation` events),
  and the test fails if any happened (an inline script or style would).
- `signed_in_page(user, password=...)`: signs `user` in through the real login form and
  returns the page.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
DEFAULT_PASSWORD = "secret-pass-123"  # what rapport.accounts.tests.factories.UserFactory sets
TIMEOUT_MS = 15_000
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.rapportReportViolation(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"} ` +
      `(${event.sourceFile || "?"}:${event.lineNumber}) ${event.sample || ""}`
  );
});
"""


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    # Playwright's sync API runs an event loop in this thread; the ORM calls made by the test
    # itself (factories, assertions) are still synchronous and safe.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium, live_server):
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-US"
    )
    context.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    # Chromium reports some violations (a style attribute set by a script) only as a
    # `securitypolicyviolation` event, not on the console: listen for both, before any page runs.
    context.expose_binding(
        "rapportReportViolation",
        lambda source, text: problems.append(f"CSP violation on {source['frame'].url}: {text}"),
    )
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.on("pageerror", lambda error: problems.append(f"JavaScript error on {page.url}: {error}"))

    def on_console(message):
        if message.type != "error":
            return
        source = message.location.get("url") or "?"
        # A form re-drawn with its errors answers 422 by design, and Chromium sometimes asks for
        # /favicon.ico before it has read the page's icon link; it logs both as errors.
        if "status of 422" in message.text or source.endswith("/favicon.ico"):
            return
        problems.append(f"Console error on {page.url}: {message.text} ({source})")

    page.on("console", on_console)
    page.rapport_problems = problems
    yield page
    # Panels a page loads after itself (hx-trigger="load") may still be on their way: let them
    # finish before the test's database goes, or the live server answers them without one.
    # A page that keeps polling never goes idle: after 5 s it is closed as it is.
    with contextlib.suppress(PlaywrightError):
        page.wait_for_load_state("networkidle", timeout=5000)
    context.close()
    assert not problems, "\n".join(problems)


@pytest.fixture
def signed_in_page(browser_page):
    def sign_in(user, password: str = DEFAULT_PASSWORD):
        browser_page.goto("/accounts/login/")
        browser_page.fill("#id_username", user.username)
        browser_page.fill("#id_password", password)
        with browser_page.expect_navigation():
            browser_page.click("button[type=submit]")
        if "/accounts/login/" in browser_page.url:
            raise AssertionError(f"signing in {user.username} failed")
        return browser_page

    return sign_in
