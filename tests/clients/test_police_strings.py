"""The police console's words: Vietnamese and English have the same keys, and every key
the console's code names literally is in them (a missing one would show as ``case.ask``)."""
from __future__ import annotations

import re
from pathlib import Path

from app.clients import ROOT

POLICE = ROOT / "police"
KEY = re.compile(r'^\s*"([a-z0-9_.]+)":', re.MULTILINE)
#: t("key"), t("key", {...}), label keys passed on as "desk.level2_confirm" and the like.
USED = re.compile(r'\bt\(\s*"([a-z0-9_]+\.[a-z0-9_.]+)"')


def dictionaries() -> dict[str, set[str]]:
    text = (POLICE / "strings.js").read_text(encoding="utf-8")
    blocks = re.findall(r"export const (vi|en) = \{(.*?)\n\};", text, re.DOTALL)
    return {name: set(KEY.findall(body)) for name, body in blocks}


def test_both_languages_have_the_same_keys() -> None:
    words = dictionaries()
    assert set(words) == {"vi", "en"} and len(words["vi"]) > 200
    assert words["vi"] - words["en"] == set() and words["en"] - words["vi"] == set()


def test_every_key_the_code_names_is_translated() -> None:
    known = dictionaries()["vi"]
    used: dict[str, set[str]] = {}
    for path in sorted(POLICE.rglob("*.js")):
        for key in USED.findall(path.read_text(encoding="utf-8")):
            used.setdefault(key, set()).add(path.name)
    assert len(used) > 100
    missing = {key: files for key, files in used.items() if key not in known}
    assert missing == {}


def test_the_page_loads_its_scripts_and_styles_from_files_only() -> None:
    page = (POLICE / "index.html").read_text(encoding="utf-8")
    assert re.search(r"<script[^>]*>\s*[^<\s]", page) is None  # no inline script
    assert "<style" not in page and " style=" not in page and " on" + "click=" not in page
    for asset in re.findall(r'(?:src|href)="(/(?:police|clients)/[^"]+)"', page):
        folder = "police" if asset.startswith("/police/") else "shared"
        assert (ROOT / folder / Path(asset).name).is_file(), asset
