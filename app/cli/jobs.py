"""``flask jobs``: the background job worker and the scheduler of periodic jobs."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from app.cli.common import OperatorGroup, fail
from app.jobs import RQJobs, get_jobs

group = OperatorGroup("jobs", help="Background jobs (RQ on Redis): worker, periodic scheduler.")


def _rq() -> RQJobs:
    queue = get_jobs()
    if not isinstance(queue, RQJobs):
        fail("jobs.not_rq", f"JOB_QUEUE is {current_app.config['JOB_QUEUE']}: jobs run inside "
                            "the web process; a worker needs REDIS_URL (rq).")
    return queue


@group.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--worker-ttl", type=click.IntRange(16, 3600), default=None,
              help="Seconds the worker's registration lives without a heartbeat (RQ: 420).")
@click.option("--maintenance-interval", type=click.IntRange(1, 3600), default=None,
              help="Seconds between its care of the queue's registries, e.g. retrying the "
                   "jobs of a worker that died (RQ: 600).")
@with_appcontext
def worker_command(burst: bool, worker_ttl: int | None,
                   maintenance_interval: int | None) -> None:
    """Run jobs from the queue (with RQ's scheduler, which runs the delayed retries)."""
    _rq().worker(worker_ttl=worker_ttl, maintenance_interval=maintenance_interval).work(
        burst=burst, with_scheduler=True)


@group.command("cron")
@with_appcontext
def cron_command() -> None:
    """Enqueue the periodic jobs at their intervals (run one per deployment)."""
    _rq().cron().start()
