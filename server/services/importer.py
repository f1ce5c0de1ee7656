"""Import files of base data into PostGIS: read and validate with :mod:`gis.io`, write in one transaction."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine

from gis.io import LAYER_SCHEMAS, read_layer
from server.store.features import WRITERS, ImportReport

log = logging.getLogger(__name__)

#: The order a full data set must be imported in: areas first, since the others refer to them.
IMPORT_ORDER = ("areas", "barriers", "sites", "buildings", "addresses")


def import_file(engine: Engine, kind: str, path: str | Path, *, crs: str | None = None,
                layer: str | None = None) -> ImportReport:
    """Import one file of ``kind`` (areas, buildings, addresses, barriers, sites).

    The whole file is read and validated before anything is written, and written in one
    transaction: a bad row anywhere means nothing is imported. Re-importing updates rows in place.
    """
    if kind not in WRITERS or kind not in LAYER_SCHEMAS:
        raise ValueError(f"unknown import kind {kind!r}; expected one of {', '.join(IMPORT_ORDER)}")
    result = read_layer(path, kind, crs=crs, layer=layer)
    report = ImportReport(kind=kind, source=result.source, repairs=list(result.repairs))
    with engine.begin() as conn:
        report.inserted, report.updated = WRITERS[kind](conn, result.frame, result.source)
    for repair in report.repairs:
        log.info("%s: repaired %s", result.source, repair)
    log.info(report.summary())
    return report


def import_demo(engine: Engine, demo_dir: str | Path) -> list[ImportReport]:
    """Load the demo county shipped in ``data/boundaries/demo`` (a GeoPackage and an address CSV)."""
    demo_dir = Path(demo_dir)
    gpkg = demo_dir / "demo_county.gpkg"
    reports = [import_file(engine, kind, gpkg, layer=kind) for kind in IMPORT_ORDER if kind != "addresses"]
    reports.append(import_file(engine, "addresses", demo_dir / "addresses.csv", crs="EPSG:4490"))
    return reports
