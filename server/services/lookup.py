"""Find the grid: point, batch and address lookup over the divisions in force, without PostGIS per request.

Each process keeps, per set of divisions in force, two :class:`gis.locate.GridLocator` s over the grids
(one in EPSG:4490 degrees, which answers "which grid covers this point" exactly as PostGIS would on the
stored geometry, and one in a metric Gauss-Krüger zone, which answers "which grid is nearest, and how far
in metres"), one over the micro-grids, and small dictionaries of grid, community, township and published
staff details. A request then costs a bin look-up and a few dictionary reads.

Every query here is a read, so the app's service reads through its public reads (the replica when one is
configured, :class:`server.store.db.PublicReads`); the signature below comes from the same place as the data
it describes, so a lagging replica delays an approval but never mixes two states.

Freshness: at most once per :attr:`LookupService.check_interval` seconds a request runs one cheap
signature query over ``division``, ``staff_assignment``, ``staff``, ``staff_photo`` and ``staff_policy``;
when the signature changes every cached layer and dictionary is dropped and rebuilt on demand. Layers are
cached per date (a few dates) and shared between dates whose divisions in force are the same.

Boundary rule: grids are loaded in code order, so a point on an edge shared by two grids belongs to the
grid with the lowest code (see :class:`gis.locate.GridLocator`), every time.
"""

from __future__ import annotations

import csv
import gc
import io
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine

from gis.address import rank_candidates, search_key
from gis.crs import CoordSystem, parse_crs, points_to_storage
from gis.errors import InputError
from gis.locate import GridLocator, NearestGrid
from server.errors import BadRequest, NotFound
from server.services import staff as staff_service
from server.services.divisions import divisions_in_force
from server.store import lookup as store
from server.store.db import PublicReads
from server.store.models import SRID

log = logging.getLogger(__name__)

ROLE_ORDER = ("grid_chief", "full_time", "part_time", "instructor", "micro_chief")
#: Re-ranked score below which an address search hit does not count as a match in batch lookups.
MIN_ADDRESS_SCORE = 0.55
#: Candidates fetched from PostgreSQL (pg_trgm) before re-ranking in Python.
ADDRESS_CANDIDATES = 60
#: Locator bins per grid and per micro-grid (see :class:`gis.locate.GridLocator`).
GRID_BINS, MICRO_BINS = 100, 50
#: Columns a batch answer adds to the uploaded CSV.
BATCH_COLUMNS = ("grid_code", "micro_grid_code", "community_code", "match", "score", "error")

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SERVICE_LOCK = threading.Lock()

# -- parameters -------------------------------------------------------------------------------------

def parse_coordinate(value: str | None, name: str, low: float, high: float) -> float:
    """A finite number within ``[low, high]``, or BadRequest naming the parameter."""
    if value is None or value.strip() == "":
        raise BadRequest(f"parameter '{name}' is required")
    try:
        number = float(value)
    except ValueError:
        raise BadRequest(f"parameter '{name}' must be a number; got {value!r}") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise BadRequest(f"parameter '{name}' must be a number between {low:g} and {high:g}; got {value!r}")
    return number


def parse_lookup_crs(value: str | None, name: str = "crs") -> CoordSystem:
    """A geographic CRS or a consumer offset (GCJ-02, BD-09); CGCS2000 when not given."""
    if value is None or value.strip() == "":
        value = "cgcs2000"
    try:
        system = parse_crs(value)
    except InputError as exc:
        raise BadRequest(f"parameter '{name}': {exc}") from None
    if system.crs is not None and not system.crs.is_geographic:
        raise BadRequest(f"parameter '{name}' must be a lon/lat system (cgcs2000, wgs84, gcj02, bd09); got {value!r}")
    return system


def parse_date(value: str | None, name: str = "date") -> date | None:
    """``YYYY-MM-DD`` → date, None when absent, or BadRequest naming the parameter."""
    if value is None or value == "":
        return None
    if not _DATE.match(value):
        raise BadRequest(f"parameter '{name}' must be a date YYYY-MM-DD; got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"parameter '{name}' is not a calendar date: {value!r}") from None


# -- cached state -----------------------------------------------------------------------------------

@dataclass
class Layer:
    """The grids and micro-grids of one set of divisions, with their locators."""

    division_ids: tuple[int, ...]
    grids: pd.DataFrame  # code, name, type, households, community_code, division_id (locator order)
    geoms: np.ndarray  # EPSG:4490 geometries in locator order
    locator: GridLocator | None  # EPSG:4490 degrees
    nearest_grid: NearestGrid | None  # the nearest grid in metres
    micro_codes: np.ndarray  # object array, locator order
    micro_names: np.ndarray
    micro_locator: GridLocator | None
    _records: list[dict] | None = field(default=None, repr=False)

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid and micro-grid positions (-1 for none) of EPSG:4490 points."""
        if self.locator is None:
            return np.full(lon.shape, -1, np.int64), np.full(lon.shape, -1, np.int64)
        grid = self.locator.locate(lon, lat)
        micro = self.micro_locator.locate(lon, lat) if self.micro_locator is not None \
            else np.full(lon.shape, -1, np.int64)
        return grid, micro

    def nearest(self, lon: float, lat: float) -> tuple[int, float]:
        """Position of the nearest grid and the distance to it in metres (-1, nan if there is none)."""
        return self.nearest_grid.nearest(lon, lat) if self.nearest_grid is not None else (-1, math.nan)

    def communities(self) -> set[str]:
        """Codes of the communities that have a division in this layer."""
        return set(self.grids["community_code"])

    def row(self, pos: int) -> dict:
        """One grid's attributes (see ``grids``) as plain Python values."""
        # A pandas row lookup took a tenth of a point lookup's time; the records are made once per layer.
        if self._records is None:
            self._records = self.grids.to_dict("records")
        return self._records[pos]


@dataclass
class Directory:
    """Details by code that every answer needs: divisions, communities, townships, published staff."""

    signature: tuple
    divisions: dict[int, dict]  # id -> community_code, version, status, created (date), effective_from
    areas: dict[str, tuple[str, str | None]]  # code -> (name, parent code)
    staff: dict[str, list[dict]]  # grid or micro-grid code -> published assignments
    community_codes: np.ndarray  # object array in the order of community_locator
    community_locator: GridLocator | None  # community outlines, EPSG:4490
    layers: dict[tuple[int, ...], Layer] = field(default_factory=dict)
    dates: OrderedDict = field(default_factory=OrderedDict)  # date -> tuple of division ids

    def area(self, code: str | None) -> dict | None:
        """``{"code", "name"}`` of an administrative area, None if unknown."""
        if code is None or code not in self.areas:
            return None
        return {"code": code, "name": self.areas[code][0]}

    def community_at(self, lon: float, lat: float) -> str | None:
        """Code of the community whose outline covers an EPSG:4490 point, None outside every community."""
        if self.community_locator is None:
            return None
        pos = int(self.community_locator.locate(np.array([lon]), np.array([lat]))[0])
        return self.community_codes[pos] if pos >= 0 else None

    def township_of(self, community_code: str | None) -> dict | None:
        """The township/street a community belongs to, as :meth:`area`."""
        parent = self.areas.get(community_code, (None, None))[1] if community_code else None
        return self.area(parent)

    def contacts(self, codes: list[str], on: date) -> list[dict]:
        """Published staff of these grid/micro-grid codes with an assignment active on ``on``."""
        out, seen = [], set()
        for code in codes:
            for a in self.staff.get(code, ()):
                if a["start"] is not None and a["start"] > on or a["end"] is not None and a["end"] <= on:
                    continue
                key = (a["staff_id"], a["role"], code)
                if key in seen:
                    continue
                seen.add(key)
                out.append({"name": a["name"], "role": a["role"], "phone": a["phone"], "grid_code": code,
                            "photo": a.get("photo")})
        out.sort(key=lambda s: (ROLE_ORDER.index(s["role"]) if s["role"] in ROLE_ORDER else 99, s["name"]))
        return out


class LookupService:
    """Per-process lookup over the divisions in force (see the module docstring).

    Parameters
    ----------
    engine
        Where to read: the app's engine, or its public reads (:class:`server.store.db.PublicReads`); only
        ``connect()`` is used, the service never writes.
    approved_only
        Only approved divisions count (the public view once divisions are filed); by default a community
        without an approved division in force falls back to its latest draft, as
        :func:`server.services.divisions.divisions_in_force` does.
    check_interval
        Seconds between two signature checks. With ``background`` (and an interval > 0) a daemon thread
        checks and, on a change, loads the new directory and rebuilds the layers of the dates in use
        before swapping them in, so no request waits for the check or the rebuild (answers may then be up
        to one interval plus one rebuild late). Otherwise requests check synchronously; 0 checks on
        every request (tests).
    max_dates
        Dates whose divisions in force are remembered.
    background
        Refresh in a background thread (default True). In this (server) mode the process's objects are
        also moved out of the cyclic garbage collector's reach (:func:`gc.freeze`) after each load: the
        hundreds of thousands of long-lived objects of a layer otherwise make an occasional full
        collection stall one request for ~100 ms, which alone breaks a 5 ms p99.
    """

    def __init__(self, engine: Engine | PublicReads, *, approved_only: bool = False, check_interval: float = 1.0,
                 max_dates: int = 8, background: bool = True) -> None:
        self.engine = engine
        self.approved_only = approved_only
        self.check_interval = check_interval
        self.max_dates = max_dates
        self.background = background and check_interval > 0
        self._lock = threading.RLock()
        self._directory: Directory | None = None
        self._checked = -math.inf
        self._refresher: threading.Thread | None = None
        self._stop = threading.Event()

    # -- freshness ----------------------------------------------------------------------------------
    def directory(self) -> Directory:
        """The current directory, reloaded when the signature changed (see ``check_interval``)."""
        current = self._directory
        if current is not None:
            if self._refresher is not None and self._refresher.is_alive():
                return current
            if time.monotonic() - self._checked < self.check_interval:
                return current
        with self._lock:
            if self._directory is not None and time.monotonic() - self._checked < self.check_interval:
                return self._directory
            with self.engine.connect() as conn:
                signature = store.signature(conn)
                if self._directory is None or self._directory.signature != signature:
                    self._directory = self._load_directory(conn, signature)
                    self._freeze()
            self._checked = time.monotonic()
            if self.background and (self._refresher is None or not self._refresher.is_alive()):
                self._refresher = threading.Thread(target=self._refresh_loop, name="wangge-lookup-refresh",
                                                   daemon=True)
                self._refresher.start()
            return self._directory

    def _refresh_loop(self) -> None:
        failing = False
        while not self._stop.wait(self.check_interval):
            try:
                with self.engine.connect() as conn:
                    signature = store.signature(conn)
                    current = self._directory
                    if current is not None and current.signature == signature:
                        failing = False
                        continue
                    fresh = self._load_directory(conn, signature)
                # Rebuild what requests use now before anyone sees the new directory.
                for day, explicit in list(current.dates)[-2:] if current is not None else []:
                    try:
                        self._layer_in(fresh, day, explicit)
                    except NotFound:
                        pass
                with self._lock:
                    self._directory = fresh
                    self._checked = time.monotonic()
                self._freeze()
                failing = False
            except Exception:  # noqa: BLE001 - keep refreshing; requests keep the last good state meanwhile
                if not failing:
                    log.warning("lookup refresh failed; retrying every %.0f s", self.check_interval, exc_info=True)
                failing = True

    def _freeze(self) -> None:
        if self.background:
            gc.collect()  # what is garbage now goes first; the rest is long-lived and is frozen
            gc.freeze()

    @property
    def signature(self) -> tuple | None:
        """The signature of the directory answers come from now (None before the first load)."""
        current = self._directory
        return current.signature if current is not None else None

    def close(self) -> None:
        """Stop the background refresher (if any)."""
        self._stop.set()

    def invalidate(self) -> None:
        """Drop every cache (the next request reloads)."""
        with self._lock:
            self._directory = None
            self._checked = -math.inf

    def _load_directory(self, conn, signature: tuple) -> Directory:
        started = time.perf_counter()
        divisions = {r.id: {"community_code": r.community_code, "version": r.version, "status": r.status,
                            "created": r.created_at.date() if r.created_at else None,
                            "effective_from": r.effective_from}
                     for r in store.division_headers(conn)}
        areas = {r.code: (r.name, r.parent_code) for r in store.area_names(conn)}
        staff: dict[str, list[dict]] = {}
        for r in store.published_assignments(conn):
            staff.setdefault(r.grid_code, []).append({"role": r.role, "start": r.start_date, "end": r.end_date,
                                                      "staff_id": r.id, "name": r.name, "phone": r.phone})
        staff_service.publish_contacts(conn, staff)  # the county's phone masking, photo links
        outlines = store.community_outlines(conn)
        community_locator = GridLocator(gpd.GeoSeries(shapely.from_wkb([bytes(r.wkb) for r in outlines]), crs=SRID),
                                        bins_per_grid=MICRO_BINS) if outlines else None
        log.info("lookup directory loaded in %.0f ms: %d divisions, %d areas, %d staffed codes",
                 1000 * (time.perf_counter() - started), len(divisions), len(areas), len(staff))
        return Directory(signature, divisions, areas, staff, np.array([r.code for r in outlines], dtype=object),
                         community_locator)

    # -- layers ---------------------------------------------------------------------------------------
    def layer(self, on: date | None = None) -> tuple[Directory, Layer, date]:
        """Directory, layer of the divisions in force on ``on`` (today when None), and the date used.

        Raises
        ------
        NotFound
            No division is in force on that date.
        """
        directory = self.directory()
        day = on or date.today()
        return directory, self._layer_in(directory, day, on is not None), day

    def _layer_in(self, directory: Directory, day: date, explicit: bool) -> Layer:
        key = (day, explicit)
        ids = directory.dates.get(key)
        if ids is None:
            with self._lock:
                with self.engine.connect() as conn:
                    in_force = divisions_in_force(conn, day, approved_only=self.approved_only)
                ids = []
                for division_id in in_force.values():
                    info = directory.divisions.get(division_id)
                    # A draft is "in force" only as a stand-in from the day it was made: asking about a
                    # date before any division existed answers "no division" instead of today's draft.
                    if explicit and info is not None and info["status"] != "approved" \
                            and info["created"] is not None and info["created"] > day:
                        continue
                    ids.append(division_id)
                ids = tuple(sorted(ids))
                directory.dates[key] = ids
                while len(directory.dates) > self.max_dates:
                    directory.dates.popitem(last=False)
        if not ids:
            when = f"on {day.isoformat()}" if explicit else "yet"
            raise NotFound(f"no grid division is in force {when}", details={"date": day.isoformat()})
        layer = directory.layers.get(ids)
        if layer is None:
            with self._lock:
                layer = directory.layers.get(ids)
                if layer is None:
                    layer = self._build_layer(ids)
                    directory.layers[ids] = layer
                    self._freeze()
                    # Layers no remembered date uses are dropped, so memory stays bounded.
                    used = set(directory.dates.values())
                    for stale in [k for k in directory.layers if k not in used]:
                        del directory.layers[stale]
        return layer

    def _build_layer(self, ids: tuple[int, ...]) -> Layer:
        started = time.perf_counter()
        with self.engine.connect() as conn:
            rows = store.grid_rows(conn, ids)
            micro = store.micro_grid_rows(conn, ids)
        grids = pd.DataFrame([r[:6] for r in rows], columns=["code", "name", "type", "households", "community_code",
                                                              "division_id"])
        geoms = shapely.from_wkb([bytes(r.wkb) for r in rows]) if rows else np.array([], dtype=object)
        locator = nearest = None
        if len(geoms):
            frame = gpd.GeoDataFrame(grids[["code"]], geometry=geoms, crs=SRID)
            # Fewer bins than the locator's default: a single point costs the same, and the build (paid on
            # the first request after a change) is 2-4 times shorter for a county of 2,000 grids.
            locator = GridLocator(frame, bins_per_grid=GRID_BINS)
            nearest = NearestGrid(frame)
        micro_geoms = shapely.from_wkb([bytes(r.wkb) for r in micro]) if micro else np.array([], dtype=object)
        micro_locator = GridLocator(gpd.GeoDataFrame(geometry=micro_geoms, crs=SRID),
                                    bins_per_grid=MICRO_BINS) if len(micro_geoms) else None
        log.info("lookup layer of %d divisions built in %.0f ms: %d grids, %d micro-grids", len(ids),
                 1000 * (time.perf_counter() - started), len(grids), len(micro))
        return Layer(ids, grids, geoms, locator, nearest,
                     np.array([r.code for r in micro], dtype=object), np.array([r.name for r in micro], dtype=object),
                     micro_locator)

    # -- answers --------------------------------------------------------------------------------------
    def _grid_answer(self, directory: Directory, layer: Layer, pos: int, micro_pos: int, day: date,
                     geometry: bool = False) -> dict:
        row = layer.row(pos)
        community = row["community_code"]
        micro = None
        codes = [row["code"]]
        if micro_pos >= 0:
            micro = {"code": layer.micro_codes[micro_pos], "name": layer.micro_names[micro_pos]}
            codes.append(micro["code"])
        info = directory.divisions.get(int(row["division_id"]), {})
        answer = {
            "grid": {"code": row["code"], "name": row["name"], "type": row["type"],
                     "households": int(row["households"])},
            "micro_grid": micro,
            "community": directory.area(community),
            "township": directory.township_of(community),
            "division": {"id": int(row["division_id"]), "version": info.get("version"), "status": info.get("status")},
            "staff": directory.contacts(codes, day),
        }
        if geometry:
            answer["grid"]["geometry"] = shapely.geometry.mapping(layer.geoms[pos])
        return answer

    @staticmethod
    def _outside(directory: Directory, layer: Layer, x: float, y: float, lon, lat, day: date,
                 point: dict) -> tuple[str, dict]:
        """Message and details of a 404 for a point in no grid.

        In a community with no division in force the answer says so (and names no grid: the nearest one
        would be another community's, where nobody will answer for this place). Elsewhere, in a gap or
        outside every community, it names the nearest grid and its distance in metres.
        """
        details: dict = {"point": point, "date": day.isoformat()}
        community = directory.community_at(x, y)
        if community is not None and community not in layer.communities():
            details["community"] = directory.area(community)
            details["division_in_force"] = False
            name = directory.areas[community][0]
            return (f"该位置所在的{name}尚无生效的网格划分 / {community} {name} has no grid division in force yet",
                    details)
        pos, distance = layer.nearest(x, y)
        if pos < 0:
            return f"该位置不在任何网格内 / the point ({lon}, {lat}) is in no grid", details
        row = layer.row(pos)
        details["nearest"] = {"code": row["code"], "name": row["name"], "distance_m": round(distance, 1)}
        return (f"该位置不在任何网格内，最近的网格 {row['code']} 约 {distance:.0f} 米 / the point ({lon}, {lat}) "
                f"is in no grid; the nearest grid is {row['code']} {distance:.0f} m away"), details

    def point(self, lon: float, lat: float, crs: CoordSystem, on: date | None = None, *,
              geometry: bool = False) -> dict:
        """The grid (with micro-grid, community, township and published staff) covering one point.

        Raises
        ------
        NotFound
            The point is in no grid: ``details`` has the nearest grid and its distance in metres.
        """
        x, y = to_storage(lon, lat, crs)
        directory, layer, day = self.layer(on)
        grid, micro = layer.locate(np.array([x]), np.array([y]))
        point = {"lon": round(float(x), 8), "lat": round(float(y), 8), "crs": "EPSG:4490"}
        if grid[0] < 0:
            message, details = self._outside(directory, layer, float(x), float(y), lon, lat, day, point)
            raise NotFound(message, details=details)
        answer = self._grid_answer(directory, layer, int(grid[0]), int(micro[0]), day, geometry)
        return {"point": point, "date": day.isoformat(), **answer}

    # -- address search -------------------------------------------------------------------------------
    def search(self, q: str, limit: int = 10, on: date | None = None) -> dict:
        """Standard addresses best matching a typed query, each with its grid and staff.

        Raises
        ------
        BadRequest
            The query is not a usable address (names the parameter ``q``).
        """
        try:
            key = search_key(q, field="q")
        except InputError as exc:
            raise BadRequest(f"parameter 'q': {exc}") from None
        with self.engine.connect() as conn:
            rows = store.address_candidates(conn, key, max(ADDRESS_CANDIDATES, limit))
        ranked = rank_candidates(q, [r.address for r in rows], limit=limit, field="q") if rows else []
        try:
            directory, layer, day = self.layer(on)
        except NotFound:
            directory = layer = None
            day = on or date.today()
        results = []
        if ranked:
            picked = [rows[i] for i, _ in ranked]
            lon = np.array([r.lon for r in picked], dtype=float)
            lat = np.array([r.lat for r in picked], dtype=float)
            grid, micro = layer.locate(lon, lat) if layer is not None else (np.full(len(picked), -1),) * 2
            communities = layer.communities() if layer is not None else set()
            for k, ((_, score), r) in enumerate(zip(ranked, picked, strict=True)):
                item = {"address": r.address, "score": round(float(score), 3),
                        "exact": r.address == key,
                        "point": {"lon": round(float(r.lon), 8), "lat": round(float(r.lat), 8), "crs": "EPSG:4490"},
                        "grid": None, "micro_grid": None, "community": None, "township": None, "staff": []}
                if directory is not None:
                    item["community"] = directory.area(r.community_code)
                    item["township"] = directory.township_of(r.community_code)
                # An address whose community has no division yet: say so, never another community's grid.
                item["division_in_force"] = layer is not None and r.community_code in communities
                if grid[k] >= 0:
                    item.update(self._grid_answer(directory, layer, int(grid[k]), int(micro[k]), day))
                results.append(item)
        return {"query": q, "normalized": key, "date": day.isoformat(), "results": results}

    # -- batch ----------------------------------------------------------------------------------------
    def batch(self, data: bytes, default_crs: str | None = None, on: date | None = None,
              max_rows: int = 200_000) -> bytes:
        """Look up every row of an uploaded CSV; the answer is the same CSV with :data:`BATCH_COLUMNS` added.

        Rows are either ``lon,lat[,crs]`` or ``address`` (a row with both uses its coordinates). Bad rows
        get a message in ``error`` and ``match = none``; they never fail the batch. The answer is UTF-8
        with a byte-order mark (so spreadsheet programs read the Chinese correctly).

        Raises
        ------
        BadRequest
            The file is not a CSV with ``lon`` and ``lat`` or ``address`` columns, is undecodable, or
            has more than ``max_rows`` rows.
        """
        default = parse_lookup_crs(default_crs, "crs")
        frame = read_batch_csv(data, max_rows)
        columns = {c.strip().lower(): c for c in frame.columns}
        lon_col, lat_col = columns.get("lon") or columns.get("lng"), columns.get("lat")
        addr_col, crs_col = columns.get("address"), columns.get("crs")
        if not ((lon_col and lat_col) or addr_col):
            raise BadRequest("parameter 'file': the CSV needs columns lon,lat[,crs] or address; "
                             f"found {', '.join(map(str, frame.columns)) or 'none'}")
        n = len(frame)
        directory, layer, day = self.layer(on)
        grid = np.full(n, -1, np.int64)
        micro = np.full(n, -1, np.int64)
        match = np.full(n, "none", dtype=object)
        score = np.full(n, "", dtype=object)
        error = np.full(n, "", dtype=object)

        has_coords = np.zeros(n, bool)
        if lon_col and lat_col:
            crs_values = frame[crs_col].str.strip() if crs_col else pd.Series([""] * n)
            has_coords, x, y = _batch_points(frame[lon_col].str.strip(), frame[lat_col].str.strip(), crs_values,
                                             default, error)
            ok = has_coords & (error == "")
            g, mg = layer.locate(x[ok], y[ok])
            grid[ok], micro[ok] = g, mg
            match[ok & (grid >= 0)] = "point"
            error[ok & (grid < 0)] = "in no grid"
        if addr_col:
            todo = ~has_coords
            self._batch_addresses(frame[addr_col].to_numpy(object), todo, layer, grid, micro, match, score, error)
        elif (~has_coords).any():
            error[~has_coords] = "lon and lat are missing"
        return _batch_answer(frame, layer, grid, micro, match, score, error)

    def _batch_addresses(self, addresses: np.ndarray, todo: np.ndarray, layer: Layer, grid: np.ndarray,
                         micro: np.ndarray, match: np.ndarray, score: np.ndarray, error: np.ndarray) -> None:
        keys: dict[int, str] = {}
        for i in np.flatnonzero(todo):
            text_value = addresses[i]
            if text_value is None or str(text_value).strip() == "":
                error[i] = "address is missing (and so are lon, lat)"
                continue
            try:
                keys[i] = search_key(str(text_value))
            except InputError as exc:
                error[i] = f"address: {exc}"
        if not keys:
            return
        points: dict[int, tuple[float, float, str]] = {}
        with self.engine.connect() as conn:
            exact = store.exact_addresses(conn, sorted(set(keys.values())))
            fuzzy_cache: dict[str, tuple | None] = {}
            for i, key in keys.items():
                if key in exact:
                    points[i] = (*exact[key], "exact", 1.0)
                    continue
                if key not in fuzzy_cache:
                    rows = store.address_candidates(conn, key, ADDRESS_CANDIDATES)
                    best = None
                    if rows:
                        (j, s), = rank_candidates(key, [r.address for r in rows], limit=1)
                        if s >= MIN_ADDRESS_SCORE:
                            best = (float(rows[j].lon), float(rows[j].lat), "fuzzy", s)
                    fuzzy_cache[key] = best
                if fuzzy_cache[key] is None:
                    error[i] = "no matching standard address"
                else:
                    points[i] = fuzzy_cache[key]
        if not points:
            return
        idx = np.fromiter(points, dtype=np.int64)
        x = np.array([points[i][0] for i in idx])
        y = np.array([points[i][1] for i in idx])
        g, mg = layer.locate(x, y)
        grid[idx], micro[idx] = g, mg
        for k, i in enumerate(idx):
            match[i] = points[i][2]
            score[i] = f"{points[i][3]:.3f}"
            if g[k] < 0:
                error[i] = "the address point is in no grid"


def _batch_points(lon_s: pd.Series, lat_s: pd.Series, crs_values: pd.Series, default: CoordSystem,
                  error: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows with coordinates, and their EPSG:4490 x, y; a bad row gets its message in ``error`` (in place)."""
    n = len(lon_s)
    has_coords = ((lon_s != "") | (lat_s != "")).to_numpy()
    lon = pd.to_numeric(lon_s, errors="coerce").to_numpy(float)
    lat = pd.to_numeric(lat_s, errors="coerce").to_numpy(float)
    for name, values, raw, bound in (("lon", lon, lon_s, 180.0), ("lat", lat, lat_s, 90.0)):
        missing = has_coords & (raw == "").to_numpy()
        error[missing & (error == "")] = f"{name} is missing"
        bad = has_coords & ~missing & ~np.isfinite(values)
        error[bad & (error == "")] = f"{name} is not a number"
        out = has_coords & np.isfinite(values) & (np.abs(values) > bound)
        error[out & (error == "")] = f"{name} is out of range (±{bound:g})"
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    ok = has_coords & (error == "")
    for value in pd.unique(crs_values[ok]):
        rows = ok & (crs_values == value).to_numpy()
        try:
            system = parse_lookup_crs(value, "crs") if value else default
        except BadRequest as exc:
            error[rows] = exc.message.replace("parameter 'crs'", "crs")
            continue
        x[rows], y[rows] = to_storage(lon[rows], lat[rows], system)
    return has_coords, x, y


def _batch_answer(frame: pd.DataFrame, layer: Layer, grid: np.ndarray, micro: np.ndarray, match: np.ndarray,
                  score: np.ndarray, error: np.ndarray) -> bytes:
    """The uploaded rows with :data:`BATCH_COLUMNS` added, as UTF-8 CSV with a byte-order mark."""
    codes = layer.grids["code"].to_numpy(object)
    communities = layer.grids["community_code"].to_numpy(object)
    found = grid >= 0
    out = frame.copy()
    out["grid_code"] = np.where(found, codes[np.where(found, grid, 0)] if len(codes) else "", "")
    has_micro = micro >= 0
    out["micro_grid_code"] = np.where(has_micro, layer.micro_codes[np.where(has_micro, micro, 0)]
                                      if len(layer.micro_codes) else "", "")
    out["community_code"] = np.where(found, communities[np.where(found, grid, 0)] if len(codes) else "", "")
    out["match"], out["score"], out["error"] = match, score, error
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue().encode("utf-8-sig")


def to_storage(lon, lat, system: CoordSystem):
    """Lon/lat (scalars or arrays) in ``system`` to EPSG:4490.

    CGCS2000 and WGS84 pass through unchanged: they agree to well under a metre and pyproj only knows a
    null transformation between them anyway (see :func:`gis.crs.points_to_storage`), and skipping pyproj
    spares every server thread its ~70 ms first use of that transformation.
    """
    if system.name in ("EPSG:4490", "EPSG:4326"):
        return lon, lat
    return points_to_storage(lon, lat, system)


def read_batch_csv(data: bytes, max_rows: int) -> pd.DataFrame:
    """Decode (UTF-8 with or without BOM, else GBK) and parse an uploaded CSV, every value as text."""
    for encoding in ("utf-8-sig", "gbk"):
        try:
            decoded = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise BadRequest("parameter 'file' is neither UTF-8 nor GBK text")
    if not decoded.strip():
        raise BadRequest("parameter 'file' is empty")
    try:
        frame = pd.read_csv(io.StringIO(decoded), dtype=str, keep_default_na=False, skipinitialspace=True,
                            quoting=csv.QUOTE_MINIMAL)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise BadRequest(f"parameter 'file' is not a readable CSV: {exc}") from None
    if len(frame) > max_rows:
        raise BadRequest(f"parameter 'file' has {len(frame):,} rows; at most {max_rows:,} per batch")
    return frame


def from_approved(answer: dict) -> bool:
    """Whether a point or address answer shows approved divisions only (no draft stands in anywhere)."""
    items = answer.get("results", [answer])
    return all(item["division"]["status"] == "approved" for item in items if item.get("division"))


def lookup_service(app) -> LookupService:
    """The app's :class:`LookupService`, made on first use (one per process), reading from the replica if any."""
    service = app.extensions.get("wangge.lookup")
    if service is not None:
        return service
    with _SERVICE_LOCK:  # two first requests at once must not make two services (and two refreshers)
        service = app.extensions.get("wangge.lookup")
        if service is not None:
            return service
        from server import public_reads_of

        service = LookupService(public_reads_of(app), approved_only=app.config["PUBLIC_APPROVED_ONLY"],
                                check_interval=app.config["LOOKUP_CHECK_SECONDS"],
                                background=not app.config.get("TESTING"))
        app.extensions["wangge.lookup"] = service
    return service
