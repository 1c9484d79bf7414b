"""The dashboard in a real headless browser: Debian's Chromium driven by Selenium.

The service runs in a subprocess on a fresh SQLite database with the demo
data (:mod:`tests.e2e.live`); an operator is created with ``flask admins
create``. The browser logs in with the token, loads the dashboard, and its
headline numbers must equal the statistics API's. A screenshot is saved as
``test-artifacts/dashboard.png``.

Without Chromium (a laptop running ``make test``) the test is skipped and
says why, unless ``VNID_REQUIRE_BROWSER=1`` (CI sets it), when it fails
(:mod:`tests.e2e.browser`).
"""
from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import browser_tests, chromium, console_errors
from tests.e2e.live import ROOT, LiveServer, running_server

ARTIFACTS = ROOT / "test-artifacts"
HEADLINES = ("accounts.total", "accounts.active", "accounts.level2_active",
             "registrations.registered_total", "backlogs.overdue")
pytestmark = browser_tests


@pytest.fixture(scope="module")
def server(browser_ready: None, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[LiveServer, str]]:
    """The service with demo data, and an operator's admin token."""
    with running_server(tmp_path_factory.mktemp("dashboard"), seed_count=400) as live:
        created = live.flask("admins", "create", "--name", "Kiểm thử e2e")
        token = json.loads(created.strip().splitlines()[-1])["token"]
        yield live, token


@pytest.fixture()
def driver(browser_ready: None) -> Iterator[Any]:
    with chromium() as browser:
        yield browser


def api(url: str, token: str, path: str) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"})
    with opener.open(request, timeout=10) as response:
        return json.load(response)


def dig(data: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        data = data[key]
    return data


@pytest.mark.slow
def test_an_operator_sees_the_same_headline_numbers_as_the_api(
        server: tuple[LiveServer, str], driver: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    live, token = server
    wait = WebDriverWait(driver, 20)

    # a wrong token: a clear message, still on the login page
    driver.get(live.url + "/dashboard")
    wait.until(expected_conditions.presence_of_element_located((By.ID, "token")))
    driver.find_element(By.ID, "token").send_keys("vnidop_not-a-real-token")
    driver.find_element(By.ID, "login-submit").click()
    error = wait.until(expected_conditions.presence_of_element_located((By.ID, "login-error")))
    assert "không hợp lệ" in error.text

    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "login-submit").click()
    wait.until(expected_conditions.presence_of_element_located((By.ID, "growth-chart")))
    # uPlot drew both charts (canvas elements), so the vendored script loaded and ran
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".uplot canvas")) >= 2)

    overview = api(live.url, token, "/api/v1/stats/overview")
    assert overview["accounts"]["total"] > 0
    for stat in HEADLINES:  # a count the API hides (null) is a dash on the page
        shown = driver.find_element(By.CSS_SELECTOR, f'[data-stat="{stat}"]').text
        expected = dig(overview, stat)
        assert (shown == "—") if expected is None else \
            int(re.sub(r"\D", "", shown) or 0) == expected, stat
    growth = driver.find_element(By.CSS_SELECTOR, '[data-stat="growth.last_month_growth"]')
    raw, expected = growth.get_attribute("data-raw"), overview["growth"]["last_month_growth"]
    assert (raw == "") if expected is None else float(raw) == expected

    provinces = api(live.url, token, "/api/v1/stats/provinces")["items"]
    first_row = driver.find_element(By.CSS_SELECTOR, "#ranking tbody tr td:nth-child(2)")
    assert first_row.text.startswith(provinces[0]["name"])

    ARTIFACTS.mkdir(exist_ok=True)
    path = Path(ARTIFACTS / "dashboard.png")
    driver.set_window_size(1440, driver.execute_script(
        "return document.documentElement.scrollHeight") + 40)
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 20_000
    # the browser's console holds no error (CSP refusals, script errors, missing files) but the
    # wrong token's 401 above
    assert console_errors(driver, allowed=("/dashboard/login",)) == []

    driver.find_element(By.ID, "logout").click()
    wait.until(expected_conditions.presence_of_element_located((By.ID, "token")))
    driver.get(live.url + "/dashboard")
    assert driver.current_url.endswith("/dashboard/login")
