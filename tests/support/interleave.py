"""Run threads one step at a time in an order a test chooses: explores interleavings of racing executors.

Each thread runs freely until it reaches a *gate* (a wrapped store or capacity call); the scheduler
waits until every live thread is at a gate or finished, then lets exactly one through (``choose``
picks it, e.g. a hypothesis draw). So every run is one reproducible interleaving of the gated calls,
and hypothesis explores and shrinks them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Interleaver:
    def __init__(self, choose: Callable[[int], int], *, timeout: float = 30.0) -> None:
        self._choose = choose
        self._timeout = timeout
        self._cv = threading.Condition()
        self._waiting: dict[str, str] = {}
        self._alive: set[str] = set()
        self._released: str | None = None
        #: The order in which gated calls went through, as ``(thread, call)``.
        self.trace: list[tuple[str, str]] = []

    def gate(self, call: str) -> None:
        me = threading.current_thread().name
        with self._cv:
            if me not in self._alive:  # not a scheduled thread (set-up, checks): pass
                return
            self._waiting[me] = call
            self._cv.notify_all()
            if not self._cv.wait_for(lambda: self._released == me, timeout=self._timeout):
                raise TimeoutError(f"{me} waited at {call} for {self._timeout} s")
            self._released = None
            del self._waiting[me]
            self.trace.append((me, call))

    def run(self, jobs: dict[str, Callable[[], Any]]) -> dict[str, Any]:
        """Run every job in its own thread (named by its key); returns each result or the exception raised."""
        results: dict[str, Any] = {}

        def body(name: str, job: Callable[[], Any]) -> None:
            try:
                results[name] = job()
            except Exception as error:  # the test inspects it
                results[name] = error
            finally:
                with self._cv:
                    self._alive.discard(name)
                    self._cv.notify_all()

        threads = [
            threading.Thread(target=body, args=(name, job), name=name, daemon=True) for name, job in jobs.items()
        ]
        with self._cv:
            self._alive.update(jobs)
        for thread in threads:
            thread.start()
        while True:
            with self._cv:
                settled = self._cv.wait_for(
                    lambda: self._released is None and all(n in self._waiting for n in self._alive),
                    timeout=self._timeout,
                )
                if not settled:
                    raise TimeoutError(f"threads neither reached a gate nor finished: {sorted(self._alive)}")
                if not self._alive:
                    break
                ready = sorted(self._waiting)
                self._released = ready[self._choose(len(ready))]
                self._cv.notify_all()
        for thread in threads:
            thread.join(self._timeout)
        return results


class Gated:
    """Wraps an object: the named methods pass through ``interleaver.gate`` first; the rest delegate."""

    def __init__(self, inner: Any, interleaver: Interleaver, methods: set[str]) -> None:
        self._inner = inner
        self._interleaver = interleaver
        self._methods = methods

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in self._methods:
            return attribute

        def gated(*args: Any, **kwargs: Any) -> Any:
            self._interleaver.gate(name)
            return attribute(*args, **kwargs)

        return gated
