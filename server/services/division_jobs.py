"""Division as a Dask job: each community one task, on a local cluster or on one at a scheduler address.

The engine divides one community at a time, so a county, a city or a province is an embarrassingly
parallel set of tasks. Dask distributed runs them: with no scheduler a ``LocalCluster`` of worker
processes on this machine (the one code path, also for two communities), with ``--scheduler
tcp://host:8786`` any cluster that can reach PostGIS through ``DATABASE_URL``. Workers keep no state:
a task reads its community, divides it and stores it in one transaction of its own.

- **Retries.** A task whose worker dies is run again on another worker (Dask's own rescheduling); a
  community being written when its worker died was rolled back by PostgreSQL, so it is never stored
  half.
- **Idempotency.** The inputs of a community (outline, buildings, barriers, sites, band, seed) have a
  fingerprint, kept in the draft's settings. A task whose community's newest division already has
  that fingerprint stores nothing (``skipped``), so a re-run after a crash, or a retried task whose
  first attempt committed, never stores a community twice; the check and the write hold the
  community's advisory lock.
- **Workers die with their parent** on a local cluster, so a killed ``wangge divide`` leaves no worker
  storing drafts nobody asked for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

# SchedulerUnreachable is re-exported: callers catch it from here.
from server.services.dask_cluster import SchedulerUnreachable, start_client  # noqa: F401
from server.services.divisions import DivideOutcome, divide_and_store
from server.store.db import make_engine

log = logging.getLogger(__name__)


@dataclass
class JobReport:
    """What a run did: communities divided, skipped (inputs unchanged) and failed (with the reason)."""

    divided: list[DivideOutcome] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    dashboard: str | None = None

    def add(self, outcome: DivideOutcome) -> None:
        """Count one finished task."""
        if outcome.error:
            self.failed.append((outcome.community_code, outcome.error))
        elif outcome.skipped:
            self.skipped.append(outcome.community_code)
        else:
            self.divided.append(outcome)

    @property
    def grids(self) -> int:
        """Grids stored by this run."""
        return sum(int(o.summary.get("n_grids", 0)) for o in self.divided)

    @property
    def grids_in_band(self) -> int:
        """Grids stored by this run whose households are within the band."""
        return sum(round(o.summary.get("n_grids", 0) * o.summary.get("share_in_band", 0)) for o in self.divided)

    @property
    def households(self) -> int:
        """Households in the communities divided by this run."""
        return sum(int(o.summary.get("households", 0)) for o in self.divided)


def divide_task(code: str, url: str, options: dict) -> DivideOutcome:
    """One community, on a worker: its own engine, its own transaction (see :func:`divide_and_store`)."""
    engine = make_engine(url, pool_size=1)
    try:
        return divide_and_store(engine, code, **options)
    finally:
        engine.dispose()


def divide_many(url: str, codes: list[str], *, workers: int = 2, scheduler: str | None = None,
                report: JobReport | None = None, on_start=None, skip_unchanged: bool = True,
                **options) -> Iterator[DivideOutcome]:
    """Divide ``codes`` as Dask tasks; yield each outcome as it finishes (any order).

    ``workers`` sizes the local cluster (ignored with ``scheduler``). ``report`` (optional) is filled as
    outcomes arrive; ``on_start(dashboard_link)`` is called once the cluster answers. With
    ``skip_unchanged`` communities whose inputs did not change since their newest version are skipped.
    """
    from distributed import as_completed

    if not codes:
        return
    report = report if report is not None else JobReport()
    started = time.perf_counter()
    client, cluster = start_client(scheduler, max(1, min(workers, len(codes))))
    report.dashboard = client.dashboard_link
    if on_start is not None:
        on_start(report.dashboard)
    try:
        options = {**options, "skip_unchanged": skip_unchanged}
        futures = client.map(divide_task, codes, url=url, options=options, pure=False, retries=1,
                             key=[f"divide-{code}" for code in codes])
        code_of = {future.key: code for future, code in zip(futures, codes, strict=True)}
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except Exception as exc:  # the task could not run at all (its workers kept dying): say so, go on
                outcome = DivideOutcome(code_of[future.key], None, None, {}, [], 0.0,
                                        error=f"the task failed on the cluster ({type(exc).__name__}: {exc})")
            report.add(outcome)
            yield outcome
    finally:
        report.seconds = time.perf_counter() - started
        client.close()
        if cluster is not None:
            cluster.close()
