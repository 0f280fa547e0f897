"""Work split over forked worker processes, to use every core (a re-rate of a million CDRs).

Only outside any transaction and on PostgreSQL: each process opens its own connection and commits
its own batches, so there must be no transaction of the caller's to be part of (and SQLite takes
one writer at a time anyway). The caller's connections are closed before forking, so no process
shares a socket; the caller reconnects on its next query.
"""

import multiprocessing
import os
from collections.abc import Callable
from queue import Empty
from typing import Any

from django.db import connection, connections

Report = Callable[[int], None]
Part = Callable[[Report], Any]
POLL_SECONDS = 1.0


class PartFailed(Exception):
    """A process stopped with an error (its message) or without a word (killed)."""


def can_fork() -> bool:
    return (
        os.name == "posix" and connection.vendor == "postgresql" and not connection.in_atomic_block
    )


def _child(part: Part, index: int, queue) -> None:
    try:
        result = part(lambda count: queue.put(("progress", index, count)))
        queue.put(("done", index, result))
    except BaseException as exc:  # noqa: BLE001 — every failure goes back to the parent
        queue.put(("error", index, f"{type(exc).__name__}: {exc}"))
    finally:
        connections.close_all()


def run_in_processes(parts: list[Part], *, progress: Report | None = None) -> list:
    """Run each part in its own forked process; returns their results in order. `progress(n)`
    is called in this process with each count a part reports; if it raises (a cancelled job),
    the processes are stopped (a batch cut short is rolled back by its own transaction) and the
    exception goes on."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    connections.close_all()
    processes = [
        context.Process(target=_child, args=(part, index, queue), daemon=True)
        for index, part in enumerate(parts)
    ]
    for process in processes:
        process.start()
    results: dict[int, Any] = {}
    try:
        while len(results) < len(parts):
            try:
                kind, index, value = queue.get(timeout=POLL_SECONDS)
            except Empty:
                _check_alive(processes, results)
                continue
            if kind == "progress":
                if progress is not None:
                    progress(value)
            elif kind == "done":
                results[index] = value
            else:
                raise PartFailed(value)
    except BaseException:
        for process in processes:
            if process.is_alive():
                process.terminate()
        raise
    finally:
        for process in processes:
            process.join(timeout=30)
    return [results[index] for index in range(len(parts))]


def _check_alive(processes, results) -> None:
    for index, process in enumerate(processes):
        if index not in results and not process.is_alive() and process.exitcode not in (0, None):
            raise PartFailed(f"worker process {index + 1} stopped (exit code {process.exitcode})")
