"""tools/cpu_split.py counts each process in its group by its command line."""
from __future__ import annotations

import pytest

from tools.cpu_split import _group


@pytest.mark.parametrize("command, group", [
    ("/work/.venv/bin/python /work/.venv/bin/granian --interface wsgi --workers 2 wsgi:app",
     "granian"),
    ("postgres: 15/main: postgres vnid_bench_1 127.0.0.1(50514) idle", "postgres backends"),
    ("postgres: 15/main: walwriter ", "postgres other processes"),
    ("postgres: 15/main: autovacuum worker vnid_bench_1", "postgres other processes"),
    ("/work/.venv/bin/python -m bench.loadgen --url http://127.0.0.1:8000/", "load generator"),
    ("redis-server 127.0.0.1:6379", "other"),
])
def test_each_process_is_counted_in_its_group(command, group):
    assert _group(command) == group
