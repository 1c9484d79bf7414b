"""The relying parties' settings: the token endpoint's URL and the callback policy."""
from __future__ import annotations

import pytest

from config import ConfigError, load_config
from tests.test_config import PRODUCTION


def test_production_needs_an_https_token_url():
    with pytest.raises(ConfigError, match="OAUTH_TOKEN_URL"):
        load_config("production", {**PRODUCTION,
                                   "OAUTH_TOKEN_URL": "http://id.example.gov.vn/token"})
    settings = load_config("production", PRODUCTION)
    assert settings["OAUTH_TOKEN_URL"] == PRODUCTION["OAUTH_TOKEN_URL"]


def test_production_callbacks_are_https_only_and_never_private():
    settings = load_config("production", {**PRODUCTION, "RP_CALLBACKS_HTTPS_ONLY": "0"})
    assert settings["RP_CALLBACKS_HTTPS_ONLY"] is True
    assert settings["RP_CALLBACKS_ALLOW_PRIVATE"] is False
    with pytest.raises(ConfigError, match="RP_CALLBACKS_ALLOW_PRIVATE"):
        load_config("production", {**PRODUCTION, "RP_CALLBACKS_ALLOW_PRIVATE": "true"})


def test_development_and_testing_refuse_private_callbacks_unless_told():
    for name in ("development", "testing"):
        assert load_config(name, {})["RP_CALLBACKS_ALLOW_PRIVATE"] is False
        assert load_config(name, {"RP_CALLBACKS_ALLOW_PRIVATE": "1"})[
            "RP_CALLBACKS_ALLOW_PRIVATE"] is True
    assert load_config("testing", {})["OAUTH_TOKEN_URL"] == \
        "http://localhost/api/v1/oauth/token"
