"""Operator commands: ``flask registry|audit|demo|officers|sms|keys ...``."""
from __future__ import annotations

from flask import Flask

from app.cli import admins, audit, demo, jobs, keys, officers, registry, rp
from app.cli import coordination
from app.cli import payments


def register_cli(app: Flask) -> None:
    """Attach every command group to the application."""
    for group in (registry.group, audit.group, demo.group, officers.group,
                  officers.sms_group, keys.group,
                  admins.group, admins.stats_group, jobs.group, rp.group,
                  coordination.group, coordination.coordination_group,
                  payments.group):
        app.cli.add_command(group)
