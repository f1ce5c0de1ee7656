"""The Dask cluster both division commands use: a local one, or the scheduler at an address.

``wangge divide`` (communities from PostGIS) and ``wangge divide-file --workers`` (communities from a
file) share it, so both fail the same way on a scheduler that does not answer and both take their
local workers down with them. Nothing here touches the database, so ``divide-file`` can use it
without SQLAlchemy.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
import time

from distributed import Client, LocalCluster, WorkerPlugin

#: A scheduler that does not answer within this many seconds is an error, not a hang. A scheduler
#: answers in milliseconds; 5 s leaves room for a slow network and keeps the whole command, start-up
#: and reading included, under the 10 s an operator is promised.
CONNECT_TIMEOUT_S = 5

#: Linux prctl option: the signal the kernel sends a process when its parent dies.
_PR_SET_PDEATHSIG = 1


class SchedulerUnreachable(RuntimeError):
    """The Dask scheduler at the address given cannot be reached."""


def start_client(scheduler: str | None, workers: int) -> tuple[Client, LocalCluster | None]:
    """A client of the scheduler at ``scheduler``, or of a new local cluster of ``workers`` processes.

    The local cluster (returned, for the caller to close) has one thread per worker: the engine is
    CPU-bound Python, so threads would only share one core. Raises :class:`SchedulerUnreachable`
    within :data:`CONNECT_TIMEOUT_S` when the scheduler does not answer.
    """
    if scheduler:
        try:
            return Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s"), None
        except (OSError, TimeoutError) as exc:
            raise SchedulerUnreachable(f"调度器 {scheduler} 无法连接 / the Dask scheduler at {scheduler} cannot be "
                                       f"reached within {CONNECT_TIMEOUT_S} s: {exc}") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR)
    client = Client(cluster)
    client.register_plugin(DieWithParent(os.getpid()))
    return client, cluster


class DieWithParent(WorkerPlugin):
    """Worker plugin: a local worker process ends when the process that started the cluster dies."""

    name = "wangge-die-with-parent"

    def __init__(self, parent_pid: int) -> None:
        self.parent_pid = parent_pid

    def setup(self, worker) -> None:
        """Arm the parent-death signal in the worker's process."""
        die_with_parent(self.parent_pid)


def die_with_parent(parent_pid: int) -> None:
    """Make this worker process end when the process that started it (``parent_pid``) dies.

    Without it, a ``kill -9`` of ``wangge divide`` left its workers running through their queued
    communities and storing drafts nobody asked for any more. On Linux the kernel sends SIGKILL
    (prctl PR_SET_PDEATHSIG); elsewhere a thread watches the parent. A community being written when
    the worker dies is rolled back by PostgreSQL: its transaction never commits.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl failed")
    except (OSError, AttributeError):
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(1)
