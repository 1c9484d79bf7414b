"""``make bench`` starts: the benches' production settings pass the production checks."""
from __future__ import annotations

from bench.common import app_environment
from config import load_config


def test_the_benches_production_settings_load():
    """A setting production comes to require is given by the benches too (else none runs)."""
    settings = load_config("production",
                           app_environment("postgresql://postgres@127.0.0.1:5432/vnid_bench"))
    assert settings["ENV_NAME"] == "production"
    assert settings["OAUTH_TOKEN_URL"].startswith("https://")
