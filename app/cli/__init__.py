"""Operator commands: ``flask registry|audit|demo|officers|sms ...``."""
from __future__ import annotations

from flask import Flask

from app.cli import audit, demo, officers, registry


def register_cli(app: Flask) -> None:
    """Attach every command group to the application."""
    for group in (registry.group, audit.group, demo.group, officers.group,
                  officers.sms_group):
        app.cli.add_command(group)
