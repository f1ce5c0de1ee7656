"""``wangge divide-file --workers N`` / ``--scheduler``: the communities of a file as Dask tasks.

A runner for :func:`gis.pipeline.divide_frames`: each task is :func:`gis.pipeline.attempt` on one
:class:`~gis.pipeline.CommunityInput` (only that community's rows), the same function the in-process
loop calls, so reading, checking, gathering and writing stay :func:`gis.pipeline.divide_file`'s. The
workers read no file and no database. Importing this module imports Dask, so the default in-process
``divide-file`` never does (starting a cluster costs about two seconds).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from distributed import as_completed

from gis.pipeline import CommunityDivision, CommunityInput, Runner, attempt
from server.services.dask_cluster import start_client


def dask_runner(*, workers: int, scheduler: str | None = None,
                on_start: Callable[[str], None] | None = None) -> Runner:
    """A runner sending each community to a local cluster of ``workers`` processes, or to ``scheduler``.

    ``on_start(dashboard_link)`` is called once the cluster answers. Connecting raises
    :class:`~server.services.dask_cluster.SchedulerUnreachable` when the scheduler does not answer.
    """

    def run(items: list[CommunityInput], options: dict) -> Iterator[tuple[int, CommunityDivision | BaseException]]:
        client, cluster = start_client(scheduler, max(1, min(workers, len(items))))
        if on_start is not None:
            on_start(client.dashboard_link)
        try:
            # No retries: an engine error would only fail again; a worker that dies is Dask's to reschedule.
            futures = client.map(attempt, items, options=options, pure=False,
                                 key=[f"divide-file-{index}-{item.code}" for index, item in enumerate(items)])
            index_of = {future.key: index for index, future in enumerate(futures)}
            for future in as_completed(futures):
                try:
                    yield index_of[future.key], future.result()
                except Exception as exc:  # the task could not run at all (its workers kept dying)
                    yield index_of[future.key], exc
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    return run
