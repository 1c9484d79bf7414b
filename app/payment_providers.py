"""The payment providers of the app: one HTTP bank gateway, built once at start-up."""
from __future__ import annotations

import logging
from typing import cast

from flask import Flask, current_app

from utilities.payments.gateway import HttpProvider, PaymentProvider

log = logging.getLogger("vnid.payments")

#: The development default of PAYMENT_GATEWAY_SECRET, refused in production.
DEV_GATEWAY_SECRET = "dev-payment-gateway-secret"


def build_providers(app: Flask) -> dict[str, PaymentProvider]:
    """The configured payment providers by name (one HTTP bank gateway).

    Production never talks to a gateway with the development secret (or one under 32
    characters), nor to a gateway or with a callback base that is not an ``http(s)://`` URL (a
    placeholder left in): it starts without payment providers, logs why, and paying answers
    ``503 payment.unconfigured``. (The rest of the service must not be refused for a missing
    payments setting: the benches and the other features run the production configuration
    without one.)
    """
    secret = app.config["PAYMENT_GATEWAY_SECRET"]
    if app.config["ENV_NAME"] == "production":
        if secret == DEV_GATEWAY_SECRET or len(secret) < 32:
            return _disabled("PAYMENT_GATEWAY_SECRET (at least 32 characters, shared with the "
                             "bank gateway), not the development default")
        for name in ("PAYMENT_GATEWAY_URL", "PAYMENT_CALLBACK_BASE_URL"):
            if not str(app.config[name]).startswith(("https://", "http://")):
                return _disabled(f"{name} to be a URL")
    name = app.config["PAYMENT_PROVIDER"]
    return {name: HttpProvider(name, base_url=app.config["PAYMENT_GATEWAY_URL"], secret=secret,
                               timeout=app.config["PAYMENT_GATEWAY_TIMEOUT"])}


def _disabled(needed: str) -> dict[str, PaymentProvider]:
    log.error("payments disabled: production needs %s", needed)
    return {}


def register_payment_providers(app: Flask) -> None:
    """Build the app's payment providers once."""
    app.extensions["payment_providers"] = build_providers(app)


def providers() -> dict[str, PaymentProvider]:
    """The current app's payment providers."""
    return cast(dict[str, PaymentProvider], current_app.extensions["payment_providers"])
