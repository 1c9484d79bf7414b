"""Debian's headless Chromium driven by Selenium, for the browser tests.

``pytestmark = browser_tests`` in a module skips it on a laptop without
Chromium (saying why) unless ``VNID_REQUIRE_BROWSER=1`` (CI sets it), when
the ``browser_ready`` fixture (``tests/e2e/conftest.py``) fails instead.
``chromium(...)`` opens a fresh browser with its own profile (IndexedDB,
service workers and cookies of one test never reach another);
``console_errors(driver)`` lists what the page's console reported as SEVERE
(CSP refusals, script errors, missing files).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = os.environ.get("VNID_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("VNID_CHROMEDRIVER", "/usr/bin/chromedriver")


def _browser_missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} not found (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


MISSING = _browser_missing()
REQUIRED = os.environ.get("VNID_REQUIRE_BROWSER") == "1"
#: The pass of ``make test`` on PostgreSQL and Redis (DATABASE_URL / REDIS_URL set).
BACKEND_PASS = bool(os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL"))
#: A laptop without Chromium skips the module; CI (VNID_REQUIRE_BROWSER=1) must run it. Once
#: per ``make test``: the clients' servers are ``make run``'s kind, a SQLite file whatever
#: DATABASE_URL says (tests/e2e/live.py), so the pass on PostgreSQL and Redis would repeat the
#: same minutes in the same browser against the same SQLite; the APIs they call are tested on
#: both backends by the rest of the suite.
browser_tests = pytest.mark.skipif(
    BACKEND_PASS or (MISSING is not None and not REQUIRED),
    reason="the browser tests run in the SQLite pass of make test (their server is SQLite "
           "whatever DATABASE_URL says)" if BACKEND_PASS else f"no headless browser: {MISSING}")


@contextmanager
def chromium(*, width: int = 1440, height: int = 1500, lang: str = "vi-VN",
             extra_flags: tuple[str, ...] = ()) -> Iterator[Any]:
    """A headless Chromium with a profile of its own, closed and removed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="vnid-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                 f"--window-size={width},{height}", f"--lang={lang}", *extra_flags):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver: Any, *, allowed: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The SEVERE entries of the page's console, but those naming one of ``allowed``."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
            and not any(text in entry["message"] for text in allowed)]


def wait_until(driver: Any, condition: Any, seconds: float) -> Any:
    """``condition(driver)`` once truthy, retried while the page re-renders what it looked at.

    A screen that redraws itself (a status that changes, a list reloaded) detaches the element
    a condition holds between finding and reading it: that is a reason to look again, not a
    failure, so ``StaleElementReferenceException`` is retried like a missing element.
    """
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, seconds, ignored_exceptions=(
        StaleElementReferenceException,)).until(condition)
