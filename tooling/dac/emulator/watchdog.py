"""The time limit of query runs: one thread per emulator interrupts its DuckDB connection when a run
passes its deadline, and again every 50 ms until the run ends (a step that swallowed an interrupt, or
began after it, stops too).

One thread for all the runs of an emulator, not one per run: a test suite makes hundreds of runs, and
starting and joining a thread costs about as much as a small test's query. The thread interrupts only
while holding the lock that ending a run takes, so no interrupt reaches a later run; it ends when the
emulator is closed or collected, and at the latest when Python exits (a thread still waiting while
the interpreter shuts down can abort the process).
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

RETRY_SECONDS = 0.05


class Watchdog:
    def __init__(self, interrupt: Callable[[], None]):
        self._interrupt = interrupt
        self._condition = threading.Condition()
        self._deadline: float | None = None
        self._expired: threading.Event | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    @contextmanager
    def limit(self, seconds: float) -> Iterator[threading.Event]:
        """A run of at most `seconds`: the event is set once the deadline has passed."""
        expired = threading.Event()
        with self._condition:
            if self._thread is None:
                self._thread = threading.Thread(target=_watch, args=(weakref.ref(self),), daemon=True,
                                                name="dac-query-time-limit")  # fmt: skip
                self._thread.start()
                _RUNNING.add(self)
            self._deadline, self._expired = time.monotonic() + seconds, expired
            self._condition.notify()
        try:
            yield expired
        finally:
            with self._condition:
                self._deadline, self._expired = None, None
                self._condition.notify()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _step(self) -> bool:
        """One wait of the watching thread, and the interrupt when a deadline has passed; False once closed."""
        with self._condition:
            if self._closed:
                return False
            if self._deadline is None:
                self._condition.wait(1.0)  # woken by the next run; a timeout lets a collected owner end it
                return True
            remaining = self._deadline - time.monotonic()
            if remaining > 0:
                self._condition.wait(remaining)
                return True
            assert self._expired is not None
            self._expired.set()
            self._interrupt()
            self._condition.wait(RETRY_SECONDS)
            return True


_RUNNING: weakref.WeakSet[Watchdog] = weakref.WeakSet()  # the watchdogs whose thread was started


@atexit.register
def _close_all() -> None:
    for watchdog in list(_RUNNING):
        watchdog.close()


def _watch(owner: weakref.ref[Watchdog]) -> None:
    """The thread's loop; it holds its watchdog only weakly, so an emulator never closed is still freed."""
    while True:
        watchdog = owner()
        if watchdog is None or not watchdog._step():
            return
        del watchdog
