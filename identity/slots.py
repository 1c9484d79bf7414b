"""Work slots: how many requests of a process run at once, and a slot given back while waiting.

A worker process runs its requests' Python under one interpreter lock, so beyond a couple
of requests at once more threads only take turns at it (measured with ``python -m
tools.cpu_split verify``: with 8 requests in flight per worker an online verification cost
about 10 % more CPU of the machine than with 2, the threads' hand-offs and their
transactions waiting on each other, and served 20-25 % fewer answers). :class:`Slots`
bounds them (``app/load_shedding.py`` holds one per process). A request that waits on a
remote service for long (a bank gateway's answer) computes nothing meanwhile:
:func:`waiting_elsewhere` gives its slot to another request for that time and takes one
back before it goes on, waiting as long as it must (it was admitted already). The
database's round trips are short and keep the slot.

No Flask here: the payments' gateway client (``utilities``) marks its waits with it.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: The slots the current thread holds one of (None: none, e.g. a CLI or a job worker).
_held = threading.local()


class Slots:
    """At most ``limit`` holders at once; each thread holds at most one slot.

    The free slots are tokens in a C queue (``queue.SimpleQueue``): taking and giving back
    cost a fraction of a microsecond, where ``threading.BoundedSemaphore``'s Python
    condition cost about 1.6 µs uncontended and 5 µs with 8 threads taking turns (`timeit`),
    and showed as 5 % of the interpreter's time under the refresh's load (py-spy). Only a
    holder gives a token back (:func:`give_back` checks), so there are never more than
    ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._free: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(limit):
            self._free.put(None)

    def take(self, wait_seconds: float) -> bool:
        """Take a slot, waiting at most ``wait_seconds`` (0: not at all); whether one was."""
        try:
            if wait_seconds > 0:
                self._free.get(timeout=wait_seconds)
            else:
                self._free.get_nowait()
        except queue.Empty:
            return False
        _held.slots = self
        return True

    def give_back(self) -> None:
        """Release the current thread's slot, if it holds one of these."""
        if getattr(_held, "slots", None) is self:
            _held.slots = None
            self._free.put(None)

    def _take_again(self) -> None:
        self._free.get()
        _held.slots = self


@contextmanager
def waiting_elsewhere() -> Iterator[None]:
    """The current thread's slot given back for the block (a wait on a remote service)."""
    slots: Slots | None = getattr(_held, "slots", None)
    if slots is None:
        yield
        return
    slots.give_back()
    try:
        yield
    finally:
        slots._take_again()
