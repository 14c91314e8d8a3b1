"""Daemon worker threads fed by a queue: the memory's folds and indexing, the stores'
commits for event loops.

Unlike ``ThreadPoolExecutor``, whose workers the interpreter joins at exit, a job in
flight here (an LLM call, a write waiting for another process's lock) never delays a
close or the end of the process.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable


class DaemonPool:
    """``workers`` daemon threads running the jobs submitted, in order of submission."""

    def __init__(self, workers: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def shutdown(self) -> None:
        """The threads end once the jobs already submitted have run."""
        for _ in self._threads:
            self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            job()
