"""Journeys: a real person's way through wangge, from the login screen to the end of the job.

Each journey module gets its own demo county (filed divisions, demo users, matters) served on a live
port, so journeys never see each other's writes. A :class:`Journey` opens pages on a desktop
(1400×900) or a phone (390×844) viewport, saves a screenshot at every step under
``test-artifacts/journeys/<journey>/``, and fails the step when the page shows what a user must never
see:

- a console error or an uncaught exception, a failed request or an answer ≥ 400 not declared expected;
- ``NaN``, ``undefined``, ``null``, ``[object Object]`` or ``Invalid Date`` in the visible text;
- an English word in the Chinese UI. Code and data are exempt: mark them with ``translate="no"`` (the
  HTML way to say "not words of the UI language"), ``<code>`` or ``<kbd>``; ``ENGLISH_ALLOWED`` lists
  the format names a Chinese user reads as they are;
- horizontal scrolling on a phone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from live import served

from server.config import PROJECT_ROOT

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "journeys"
DEMO_DIR = PROJECT_ROOT / "data" / "boundaries" / "demo"
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
ENGLISH_ALLOWED = {"PDF", "CSV", "XLSX", "GeoJSON", "GeoPackage", "Shapefile", "PNG", "JPEG", "JPG", "OGC",
                   "API", "URL", "ID", "EPSG", "CGCS", "WGS", "GPS", "QGIS", "Ctrl", "Shift", "Esc", "Alt",
                   "Z", "Y", "KB", "MB", "km", "m", "OpenStreetMap", "Leaflet", "Tianditu", "English"}
FORBIDDEN_TEXT = re.compile(r"\bNaN\b|\bundefined\b|\bnull\b|\[object Object\]|Invalid Date")
_VISIBLE_TEXT_JS = """() => {
  const skip = el => el.closest('[translate="no"], code, kbd, script, style, noscript, .leaflet-control-attribution');
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!el || skip(el)) continue;
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden' || !el.getClientRects().length) continue;
    parts.push(node.textContent);
  }
  document.querySelectorAll('input[placeholder], textarea[placeholder], [title], [aria-label]').forEach(el => {
    if (!skip(el)) { parts.push(el.getAttribute('placeholder') || ''); parts.push(el.getAttribute('title') || '');
                     parts.push(el.getAttribute('aria-label') || ''); }
  });
  return parts.join(' ');
}"""


def english_words(text: str) -> list[str]:
    """Latin words in ``text`` that are not in :data:`ENGLISH_ALLOWED` (codes and numbers are not words)."""
    words = re.findall(r"(?<![A-Za-z0-9_./:-])[A-Za-z][A-Za-z'-]*[A-Za-z](?![A-Za-z0-9_/:-])", text)
    return sorted({w for w in words if w not in ENGLISH_ALLOWED})


class Journey:
    """One person's journey: pages on one viewport, a screenshot and the checks at every step."""

    def __init__(self, browser, base_url: str, name: str, viewport: str = "desktop") -> None:
        self.base_url = base_url
        self.name = f"{name}-{viewport}"
        self.phone = viewport == "phone"
        self.folder = ARTIFACTS / self.name
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        # bypass_csp: Playwright's wait_for_function evaluates strings, which the page's CSP forbids; that
        # no template carries inline script is checked on the templates themselves (test_hardening).
        self.context = browser.new_context(viewport=PHONE if self.phone else DESKTOP, locale="zh-CN", bypass_csp=True,
                                           timezone_id="Asia/Shanghai", accept_downloads=True,
                                           is_mobile=self.phone, has_touch=self.phone)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.expected: list[str] = []  # substrings of URLs or messages this journey provokes on purpose
        self.steps = 0
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("requestfailed", self._request_failed)
        self.page.on("response", self._response)

    # -- listeners -------------------------------------------------------------------------------------
    def _console(self, msg) -> None:
        if msg.type == "error" and not self._is_expected(msg.text):
            self.problems.append(f"console error: {msg.text}")

    def _request_failed(self, request) -> None:
        failure = request.failure or ""
        # A navigation away cancels the requests still in flight: that is the browser, not a fault.
        if "ERR_ABORTED" in failure or self._is_expected(request.url):
            return
        self.problems.append(f"request failed: {request.method} {request.url} {failure}")

    def _response(self, response) -> None:
        if response.status >= 400 and not self._is_expected(response.url):
            self.problems.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def _is_expected(self, text: str) -> bool:
        return any(x in text for x in self.expected)

    # -- actions -------------------------------------------------------------------------------------
    def expect_error(self, substring: str) -> None:
        """Declare that a request or console message containing ``substring`` is provoked on purpose."""
        self.expected.append(substring)

    def goto(self, path: str) -> None:
        """Open ``path`` on the journey's server and wait until the network is quiet."""
        self.page.goto(self.base_url + path)
        self.page.wait_for_load_state("networkidle")

    def sign_in(self, user: str, password: str | None = None) -> None:
        """Sign in through the login page as a demo user (password ``<user>-demo-1``)."""
        self.goto("/login")
        self.page.fill("#username", user)
        self.page.fill("#password", password or f"{user}-demo-1")
        self.page.click("#login-form button[type=submit]")
        self.page.wait_for_load_state("networkidle")

    def step(self, label: str) -> Path:
        """Screenshot the page as ``NN-label.png`` and fail on anything a user must never see."""
        self.page.wait_for_load_state("networkidle")
        self.steps += 1
        path = self.folder / f"{self.steps:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        text = self.page.evaluate(_VISIBLE_TEXT_JS)
        where = f"{self.name} step {self.steps} ({label}, {self.page.url})"
        bad = FORBIDDEN_TEXT.findall(text)
        assert not bad, f"{where}: the page shows {sorted(set(bad))}"
        english = english_words(text)
        assert not english, f"{where}: English words in the Chinese UI: {english}"
        if self.phone:
            overflow = self.page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{where}: the page scrolls sideways by {overflow} px on a phone"
        assert not self.problems, f"{where}: {self.problems}"
        return path

    def close(self) -> None:
        """Close the browser context; problems seen after the last step still fail the journey."""
        self.context.close()
        assert not self.problems, f"{self.name}: {self.problems}"


@pytest.fixture(scope="module")
def journey_app(databases, request):
    """An app over a demo county of this module's own, with filed divisions and demo users."""
    from server import create_app, engine_of
    from server.services.demo import load_demo

    name = "wangge_test_journey_" + re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1])[:40]
    url = databases.fresh(name)
    for line in load_demo(url, DEMO_DIR, file=True):
        assert "not divided" not in line, line
    app = create_app({"DATABASE_URL": url, "TILES": "none", "TESTING": True})
    yield app
    engine_of(app).dispose()


@pytest.fixture(scope="module")
def journey_server(journey_app) -> Iterator[str]:
    """The journey app on a free loopback port."""
    with served(journey_app) as url:
        yield url


@pytest.fixture
def journey(browser, journey_server, request) -> Iterator:
    """``journey(name, viewport)`` → a :class:`Journey`; every journey opened is closed and checked."""
    opened: list[Journey] = []

    def open_journey(name: str, viewport: str = "desktop") -> Journey:
        j = Journey(browser, journey_server, name, viewport)
        opened.append(j)
        return j

    yield open_journey
    for j in opened:
        j.close()
