"""Alembic environment, run through Flask-Migrate (``flask db upgrade``).

Logging is left as the application configured it (no ``fileConfig``), so
running migrations inside the test suite does not silence its loggers.
"""
import logging

from alembic import context
from flask import current_app

from identity import partitioning

config = context.config
logger = logging.getLogger("alembic.env")
target_db = current_app.extensions["migrate"].db


def get_engine():
    """The application's engine."""
    return target_db.engine


config.set_main_option(
    "sqlalchemy.url", get_engine().url.render_as_string(hide_password=False).replace("%", "%%"))


def run_migrations_offline():
    """Emit SQL to standard output instead of running it."""
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_db.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run the migrations on the application's database."""

    def process_revision_directives(context, revision, directives):
        # Do not write an empty revision when the schema has not changed.
        if getattr(config.cmd_opts, "autogenerate", False):
            if directives[0].upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    # The partitions are made by migrations and at run time, not by the models.
    for hook, function in partitioning.COMPARE.items():
        conf_args.setdefault(hook, function)
    with get_engine().connect() as connection:
        context.configure(connection=connection, target_metadata=target_db.metadata,
                          **conf_args)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
