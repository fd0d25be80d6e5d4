"""Open a report in headless Chromium (Playwright): check it draws, take its screenshot.

Uses the system Chromium (Debian package `chromium`), never a browser Playwright downloads, and
blocks every request that is not to a local file, so a page that needed the network shows it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
VIEWPORT = {"width": 1280, "height": 900}


def chromium_path() -> Path:
    """The system Chromium.

    Raises:
        FileNotFoundError: it is not installed (the message says how to install it).
    """
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise FileNotFoundError(
            "no chromium on PATH; install the Debian package (`apt-get install chromium`, "
            "or `make system-deps`)"
        )
    return Path(found)


@contextmanager
def chromium_page(viewport: dict[str, int] = VIEWPORT) -> Iterator[Page]:
    """A fresh page in headless system Chromium; the browser closes on exit."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_path()), args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            yield browser.new_page(viewport=viewport)
        finally:
            browser.close()


@dataclass
class PageCheck:
    """What the page did while loading.

    Attributes:
        charts: Chart containers on the page.
        drawn: Containers holding an `svg` or `canvas` once the embeds finished.
        errors: Console errors, uncaught exceptions and failed embeds.
        blocked: URLs the page tried to fetch from the network (all blocked).
    """

    charts: int = 0
    drawn: int = 0
    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


def load_report(page: Page, html_path: str | Path, timeout_s: float = 60.0) -> PageCheck:
    """Open the report in `page` and wait until every chart embed settled.

    Raises:
        playwright.sync_api.TimeoutError: the embeds did not settle within `timeout_s`.
    """
    check = PageCheck()
    page.on("console", lambda m: check.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: check.errors.append(f"uncaught: {exc}"))

    def offline(route) -> None:  # type: ignore[no-untyped-def]
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            check.blocked.append(url)
            route.abort()

    page.route("**/*", offline)
    page.goto(Path(html_path).resolve().as_uri(), wait_until="load")
    page.wait_for_function(
        "window.skillsetsReport && window.skillsetsReport.done", timeout=timeout_s * 1000
    )
    check.errors.extend(page.evaluate("window.skillsetsReport.errors"))
    check.charts = page.locator("div.vega-chart").count()
    check.drawn = page.locator("div.vega-chart:has(svg, canvas)").count()
    return check


def screenshot_report(
    html_path: str | Path, png_path: str | Path, *, full_page: bool = True
) -> Path:
    """Screenshot the report as Chromium draws it (whole page by default).

    Raises:
        RuntimeError: the page logged errors or left a chart undrawn (they are listed).
    """
    out = Path(png_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with chromium_page() as page:
        check = load_report(page, html_path)
        if check.errors or check.drawn != check.charts:
            raise RuntimeError(
                f"{html_path}: {check.drawn}/{check.charts} charts drawn, errors: {check.errors}"
            )
        page.screenshot(path=str(out), full_page=full_page)
    return out
