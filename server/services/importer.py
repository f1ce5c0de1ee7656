"""Import files of base data into PostGIS: read and validate with :mod:`gis.io`, write in one transaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from gis.errors import InputError
from gis.io import LAYER_SCHEMAS, ImportLimits, read_layer
from server.services.uploads import IMPORT_DEFAULTS, ImportTimeout, deadline_left, time_budget
from server.store.features import WRITERS, ImportReport, limit_statement_time

log = logging.getLogger(__name__)

#: The order a full data set must be imported in: areas first, since the others refer to them.
IMPORT_ORDER = ("areas", "barriers", "sites", "buildings", "addresses")

#: ``progress(stage, done, total)``: stage ``"reading"`` (0 of 1, then 1 of 1) and ``"writing"`` (rows).
ImportProgress = Callable[[str, int, int], None]


def import_file(engine: Engine, kind: str, path: str | Path, *, crs: str | None = None,
                layer: str | None = None, limits: ImportLimits | None = None,
                time_limit: float = IMPORT_DEFAULTS["IMPORT_TIME_LIMIT"],
                progress: ImportProgress | None = None) -> ImportReport:
    """Import one file of ``kind`` (areas, buildings, addresses, barriers, sites).

    The whole file is read and validated before anything is written, and written in one
    transaction: a bad row anywhere means nothing is imported. Re-importing updates rows in place.

    Parameters
    ----------
    limits
        Caps on the file's size, zip members and features (:class:`gis.io.ImportLimits` defaults).
    time_limit
        Seconds the whole import may take (0: no limit); past it, nothing is stored.
    progress
        Called as the import goes, for a progress bar.

    Raises
    ------
    InputError
        Bad file or data, naming the file, feature and field; :class:`gis.io.LimitExceeded` (and its
        :class:`~server.services.uploads.ImportTimeout`) when over a cap or the time budget.
    """
    if kind not in WRITERS or kind not in LAYER_SCHEMAS:
        raise ValueError(f"unknown import kind {kind!r}; expected one of {', '.join(IMPORT_ORDER)}")
    started = time.monotonic()
    source = Path(path).name
    with time_budget(time_limit, f"importing {source}", source=source):
        if progress is not None:
            progress("reading", 0, 1)
        result = read_layer(path, kind, crs=crs, layer=layer, limits=limits)
        if progress is not None:
            progress("reading", 1, 1)
        report = ImportReport(kind=kind, source=result.source, repairs=list(result.repairs),
                              encoding=result.encoding and result.encoding.name,
                              encoding_note=result.encoding and result.encoding.note)

        def written(done: int, total: int) -> None:
            if progress is not None:
                progress("writing", done, total)

        try:
            with engine.begin() as conn:
                # A single statement cannot be interrupted by the budget's watchdog: bound it here.
                limit_statement_time(conn, min(deadline_left(started, time_limit), 24 * 3600))
                report.inserted, report.updated = WRITERS[kind](conn, result.frame, result.source, written)
        except DBAPIError as exc:
            raise _database_refused(exc, result.source, started, time_limit) from None
    report.seconds = time.monotonic() - started
    for repair in report.repairs:
        log.info("%s: repaired %s", result.source, repair)
    log.info(report.summary())
    return report


def _database_refused(exc: DBAPIError, source: str, started: float, time_limit: float) -> InputError:
    """The database's refusal as one line naming the file (never the SQL or its parameters)."""
    detail = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
    if "statement timeout" in detail or (time_limit > 0 and deadline_left(started, time_limit) == 0):
        return ImportTimeout(f"importing {source} took longer than its time budget of {time_limit:g} s; nothing "
                             "was stored", limit="time", source=source)
    return InputError(f"the database refused the rows: {detail}; nothing was stored", source=source)


def import_demo(engine: Engine, demo_dir: str | Path) -> list[ImportReport]:
    """Load the demo county shipped in ``data/boundaries/demo`` (a GeoPackage and an address CSV)."""
    demo_dir = Path(demo_dir)
    gpkg = demo_dir / "demo_county.gpkg"
    reports = [import_file(engine, kind, gpkg, layer=kind) for kind in IMPORT_ORDER if kind != "addresses"]
    reports.append(import_file(engine, "addresses", demo_dir / "addresses.csv", crs="EPSG:4490"))
    return reports
