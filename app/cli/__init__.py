"""Operator commands: ``flask registry ...``, ``flask audit ...``, ``flask demo ...``."""
from __future__ import annotations

from flask import Flask

from app.cli import audit, demo, registry


def register_cli(app: Flask) -> None:
    """Attach every command group to the application."""
    for group in (registry.group, audit.group, demo.group):
        app.cli.add_command(group)
