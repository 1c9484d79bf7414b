"""The verifier page's service worker keeps every file the page loads, so it opens offline.

The page's files are found the way the browser finds them: the ``src``/``href``
of ``verify/index.html``, then every static ``import``/``export ... from`` and
dynamic ``import('...')`` of each module, and the script scan.js adds (jsQR),
followed to the end. Each must be in ``verify/sw.js``'s precache list and be
served; nothing in the list may be missing from the service. The browser test
(``tests/e2e/test_verify_page.py``) proves the same thing once, offline; this
one names the file that was forgotten.
"""
from __future__ import annotations

import re
from urllib.parse import urljoin

from flask.testing import FlaskClient

from app.clients import ROOT

IMPORT = re.compile(r"""(?:^|[\s;}])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]"""
                    r"""|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]""", re.M)
HTML_REF = re.compile(r"""<(?:script|link|img)\b[^>]*?\b(?:src|href)="([^"#]+)\"""")
COMMENT = re.compile(r"/\*(?:[^*]|\*(?!/))*\*/|^[ \t]*//[^\n]*", re.M)
JSQR = re.compile(r"""JSQR_SRC\s*=\s*['"]([^'"]+)['"]""")


def precache() -> set[str]:
    worker = (ROOT / "verify" / "sw.js").read_text(encoding="utf-8")
    listed = set(re.findall(r"'(/(?:verify|clients)/[^']*)'", worker))
    names = re.search(r"const CBORG = \[(.*?)\]", worker, re.S)
    assert names, "the cborg list of sw.js moved"
    listed |= {f"/clients/vendor/cborg/lib/{name}.js"
               for name in re.findall(r"'([\w-]+)'", names.group(1))}
    return {url for url in listed if not url.endswith("/lib/")}


def local_file(url: str) -> str:
    prefixes = {"/verify/": "verify/", "/clients/shared/": "shared/",
                "/clients/vendor/": "vendor/"}
    for prefix, folder in prefixes.items():
        if url.startswith(prefix):
            return (ROOT / folder / url[len(prefix):]).read_text(encoding="utf-8")
    raise AssertionError(f"{url} is not a client file")


def loaded_by_the_page(client: FlaskClient) -> set[str]:
    page = client.get("/verify/").get_data(as_text=True)
    todo = ["/verify/"] + [urljoin("/verify/", ref) for ref in HTML_REF.findall(page)]
    seen = {"/verify/"}
    while todo:
        url = todo.pop()
        if url in seen and url != "/verify/":
            continue
        seen.add(url)
        if not url.endswith((".js", ".mjs")):
            continue
        source = COMMENT.sub("", local_file(url))  # JSDoc names modules in import() types
        for groups in IMPORT.findall(source):
            target = next(group for group in groups if group)
            todo.append(urljoin(url, target))
        todo.extend(JSQR.findall(source))
    return seen


def test_every_file_the_page_loads_is_kept_by_its_service_worker(client: FlaskClient) -> None:
    needed = loaded_by_the_page(client)
    assert {"/verify/verify.js", "/clients/shared/vn1.js", "/clients/vendor/cborg/lib/jump.js",
            "/clients/vendor/jsqr/dist/jsQR.js", "/verify/manifest.webmanifest"} <= needed
    assert needed - precache() == set()


def test_the_precache_list_names_only_files_that_are_served(client: FlaskClient) -> None:
    for url in sorted(precache()):
        answer = client.get(url)
        assert answer.status_code == 200, url
        answer.close()


def test_the_worker_and_manifest_stay_inside_the_verifier_scope(client: FlaskClient) -> None:
    worker = client.get("/verify/sw.js")
    assert worker.headers["Service-Worker-Allowed"] == "/verify/"
    assert worker.headers["Cache-Control"] == "no-cache"
    manifest = client.get("/verify/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    assert manifest.json is not None
    assert manifest.json["scope"] == "/verify/" and manifest.json["start_url"] == "/verify/"
    # the API and the trust list are never kept by the page's worker
    assert "/api/" not in worker.get_data(as_text=True).split("const CACHED")[0]
    assert "vnid-keys" not in worker.get_data(as_text=True)
