"""The clients' shared modules (``app/clients/shared/``) in headless Chromium, on the served page.

- ``qr.js`` and ``scan.js``: a VN1 text drawn as a QR code by ``qrSvg`` is read back from
  a PNG photo of it by ``scanFromImageFile`` (jsQR), character for character; a picture
  with no code gives null.
- ``api.js``: the service's uniform error body becomes an ``ApiError`` with its status,
  code and field errors, a 401 calls ``onUnauthorized``, and a request that gets no answer
  is code ``network``; JSON bodies and the bearer token are sent.
- ``i18n.js``: Vietnamese by default, ``apply`` fills text and attributes, the choice
  survives a reload.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.e2e.browser import browser_tests, chromium, console_errors
from tests.e2e.inprocess import serving
from tests.identity.credentials.vn1_helpers import make, new_key

pytestmark = browser_tests


@pytest.fixture(scope="module")
def served(app: Flask, browser_ready: None) -> Iterator[str]:
    with serving(app) as url:
        yield url


@pytest.fixture()
def driver(browser_ready: None) -> Iterator[Any]:
    with chromium(width=800, height=900) as browser:
        browser.set_script_timeout(30)
        yield browser


ROUND_TRIP = """
const [text, done] = arguments;
(async () => {
  const { qrSvg, qrDataUrl } = await import('/clients/shared/qr.js');
  const { scanFromImageFile } = await import('/clients/shared/scan.js');
  const svg = qrSvg(text, { label: 'QR' });
  document.body.append(svg);
  const photo = async (url) => {
    const image = new Image();
    image.src = url;
    await image.decode();
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 600;
    const context = canvas.getContext('2d');
    context.fillStyle = '#888';
    context.fillRect(0, 0, 600, 600);
    context.drawImage(image, 50, 50, 500, 500);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
    return new File([blob], 'photo.png', { type: 'image/png' });
  };
  const read = await scanFromImageFile(await photo(qrDataUrl(text)));
  const blank = await scanFromImageFile(await photo('/verify/icon.svg'));
  done({ read, blank, tag: svg.tagName, label: svg.getAttribute('aria-label'),
         modules: svg.viewBox.baseVal.width, scripts: svg.querySelectorAll('script').length });
})().catch((error) => done({ error: String(error) }));
"""


def test_a_qr_drawn_by_qr_js_is_read_back_by_scan_js(served: str, driver: Any) -> None:
    text = make(new_key(), credential_type="identity_basic",
                claims={"nm": "Nguyễn Thị Ánh Tuyết", "lvl": 1, "id4": "2345"})
    driver.get(served + "/verify/")
    answer = driver.execute_async_script(ROUND_TRIP, text)
    assert answer.get("error") is None, answer
    assert answer["read"] == text
    assert answer["blank"] is None
    assert answer["tag"] == "svg" and answer["label"] == "QR" and answer["scripts"] == 0
    # alphanumeric mode, error correction M: a ~330-character VN1 text fits version 10-11
    assert 57 + 8 <= answer["modules"] <= 61 + 8
    assert console_errors(driver) == []


API = """
const [done] = arguments;
(async () => {
  const { Api, ApiError } = await import('/clients/shared/api.js');
  let unauthorized = null;
  const api = new Api({ getToken: () => 'not-a-token',
                        onUnauthorized: (e) => { unauthorized = e.code; } });
  const outcome = async (promise) => {
    try { return { ok: await promise }; } catch (e) {
      return { isApiError: e instanceof ApiError, status: e.status, code: e.code,
               message: e.message, errors: e.errors };
    }
  };
  const me = await outcome(api.get('/api/v1/me'));
  const login = await outcome(new Api().post('/api/v1/auth/login', { personal_id: 12 }));
  const keys = await outcome(new Api().get('/.well-known/vnid-keys.json'));
  const network = await outcome(new Api({ base: 'http://127.0.0.1:9' }).get('/x'));
  done({ me, login, keys, network, unauthorized });
})().catch((error) => done({ error: String(error) }));
"""


def test_api_js_turns_the_uniform_error_body_into_api_errors(served: str, driver: Any) -> None:
    driver.get(served + "/verify/")
    answer = driver.execute_async_script(API)
    assert answer.get("error") is None, answer
    me = answer["me"]
    assert me["isApiError"] and me["status"] == 401 and isinstance(me["code"], str)
    assert answer["unauthorized"] == me["code"]
    login = answer["login"]
    assert login["isApiError"] and 400 <= login["status"] < 500 and login["code"]
    assert isinstance(login["errors"], dict) and login["errors"], login
    assert isinstance(answer["keys"]["ok"]["keys"], list)
    assert answer["network"]["isApiError"] and answer["network"]["code"] == "network"
    assert answer["network"]["status"] == 0
    # the only console errors: the two refused requests, and the CSP refusing another origin
    assert console_errors(driver, allowed=("/api/v1/me ", "/api/v1/auth/login ",
                                           "127.0.0.1:9/x")) == []


I18N = """
const [done] = arguments;
(async () => {
  const { createI18n } = await import('/clients/shared/i18n.js');
  const root = document.createElement('div');
  root.innerHTML = '<p data-i18n="hello"></p>'
    + '<input data-i18n-placeholder="name" data-i18n-aria-label="name">';
  document.body.append(root);
  const i18n = createI18n({ vi: { hello: 'Xin chào {who}', name: 'Họ tên' },
                            en: { hello: 'Hello {who}', name: 'Name' } },
                          { storageKey: 'test.lang' });
  const first = { lang: i18n.lang, text: i18n.t('hello', { who: 'An' }), missing: i18n.t('nope') };
  i18n.apply(root);
  const applied = [root.querySelector('p').textContent, root.querySelector('input').placeholder,
                   root.querySelector('input').getAttribute('aria-label')];
  i18n.setLang('en');
  const switched = [i18n.lang, root.querySelector('p').textContent, document.documentElement.lang,
                    localStorage.getItem('test.lang')];
  const again = createI18n({ vi: {}, en: {} }, { storageKey: 'test.lang' }).lang;
  done({ first, applied, switched, again });
})().catch((error) => done({ error: String(error) }));
"""


def test_i18n_js_speaks_vietnamese_first_and_remembers_the_choice(served: str,
                                                                  driver: Any) -> None:
    driver.get(served + "/verify/")
    answer = driver.execute_async_script(I18N)
    assert answer.get("error") is None, answer
    assert answer["first"] == {"lang": "vi", "text": "Xin chào An", "missing": "nope"}
    assert answer["applied"] == ["Xin chào {who}", "Họ tên", "Họ tên"]
    assert answer["switched"] == ["en", "Hello {who}", "en", "en"]
    assert answer["again"] == "en"
