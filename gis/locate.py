"""Batch point-in-grid: which grid (网格) each of many points falls in, fast and exact.

:class:`GridLocator` answers "which grid polygon covers this point" for arrays of coordinates. It lays a
uniform bin grid over the layer's extent and precomputes, for every bin, one of three answers:

* **outside** — no grid touches the bin: every point in it gets ``-1`` with no geometry test;
* **inside grid p** — no grid boundary touches the bin, so one grid (or none) covers all of it: every
  point gets ``p`` with no geometry test;
* **boundary** — some grid boundary passes through the bin: the bin keeps the short list of grids that
  touch it, and each point is tested exactly with :func:`shapely.intersects_xy` against those candidates
  (prepared geometries, one vectorised call per batch).

Bins are marked conservatively (their boxes are widened by a small tolerance before boundary segments are
tested against them), so floating-point rounding in the bin arithmetic never changes an answer: the
result is identical to asking GEOS ``covers`` of every grid.

**Boundary rule.** A point is assigned the *lowest row position* among the grids that ``covers`` it
(interior or boundary). A point on an edge shared by two grids therefore goes to the grid listed first; a
point on a vertex shared by several grids goes to the first of them; a point on the outer boundary of the
layer or on the rim of a hole belongs to the grid whose boundary it is. Overlapping grids (which a valid
division never has) follow the same rule. Holes are respected: a point strictly inside a hole that no
other grid fills is outside (``-1``).

**Coordinates.** Points must be in the layer's CRS. Any CRS works, geographic or projected; distances
returned by :meth:`GridLocator.nearest` are in the CRS units, so the server passes grids and points in a
metric CRS (see :func:`gis.crs.to_metric`) when it needs metres.

**Missing coordinates.** ``NaN`` or infinite coordinates are not errors: such points are located nowhere
(``-1``, and distance ``NaN`` in :meth:`GridLocator.nearest`), so one bad row in a batch does not fail the
batch. Arrays of different shapes, or values that are not numbers, raise :class:`gis.errors.InputError`.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from scipy import ndimage

from gis.crs import metric_crs_for
from gis.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["GridLocator"]

_OUTSIDE = -1
_NO_HIT = np.iinfo(np.int64).max


class GridLocator:
    """Exact, vectorised point-in-grid lookup over a layer of grid polygons.

    Parameters
    ----------
    grids
        Grid polygons (``Polygon`` or ``MultiPolygon``; holes allowed). Codes may be the index or a column;
        the locator answers with *row positions* (0-based, in frame order), which the caller maps to codes
        with ``grids.index[pos]`` or ``grids["code"].iloc[pos]`` (see :meth:`codes`). Empty or missing
        geometries are allowed and never contain anything. The frame is not modified.
    bins_per_grid
        Target number of bins per grid polygon (default 400): more bins mean fewer points that need an
        exact test, at the cost of memory (4 bytes a bin) and build time. The total is capped by
        ``max_bins``.
    max_bins
        Upper bound on the number of bins (default 4,000,000, i.e. 16 MB).
    workers
        Threads used by :meth:`locate` for large batches (default 1). Shapely and numpy release the GIL,
        so 2 threads help on a 2-core machine that is otherwise idle.

    Raises
    ------
    InputError
        If a geometry is not polygonal (names the 1-based feature and the ``geometry`` field).

    Notes
    -----
    See the module docstring for the boundary rule (lowest row position among the grids that cover the
    point) and the treatment of ``NaN`` coordinates (located nowhere).

    Examples
    --------
    >>> loc = GridLocator(grids)                            # doctest: +SKIP
    >>> pos = loc.locate(xs, ys)                            # doctest: +SKIP
    >>> codes = loc.codes(pos, column="code")               # doctest: +SKIP
    """

    def __init__(self, grids: gpd.GeoDataFrame | gpd.GeoSeries, *, bins_per_grid: int = 400,
                 max_bins: int = 4_000_000, workers: int = 1) -> None:
        if not isinstance(grids, gpd.GeoDataFrame | gpd.GeoSeries):
            raise InputError(f"expected a GeoDataFrame of grid polygons, got {type(grids).__name__}",
                             field="geometry")
        series = grids.geometry if isinstance(grids, gpd.GeoDataFrame) else grids
        geoms = np.asarray(series.values, dtype=object).copy()  # own copy: never mutate (or prepare) inputs
        geoms[shapely.is_missing(geoms)] = shapely.Polygon()
        kinds = shapely.get_type_id(geoms)
        bad = np.flatnonzero(~np.isin(kinds, (3, 6)) & ~shapely.is_empty(geoms))
        if bad.size:
            i = int(bad[0])
            raise InputError(f"grid geometry must be a Polygon or MultiPolygon, got {geoms[i].geom_type}",
                             row=i + 1, field="geometry")
        if bins_per_grid < 1 or max_bins < 1:
            raise InputError("bins_per_grid and max_bins must be positive", field="bins_per_grid")
        self.frame = grids
        self.crs = series.crs
        self.workers = max(1, int(workers))
        # Fresh geometry objects so preparing them never touches the caller's geometries.
        self._geoms = shapely.from_wkb(shapely.to_wkb(geoms))
        shapely.prepare(self._geoms)
        self._tree = shapely.STRtree(self._geoms)
        self._build(bins_per_grid, max_bins)

    # ----------------------------------------------------------------------------------------------
    # Index construction
    # ----------------------------------------------------------------------------------------------

    def _build(self, bins_per_grid: int, max_bins: int) -> None:
        """Lay the bin grid and classify every bin (outside / inside one grid / boundary)."""
        n = len(self._geoms)
        nonempty = ~shapely.is_empty(self._geoms)
        if not nonempty.any():
            self._x0 = self._y0 = 0.0
            self._w = self._h = 1.0
            self._nx = self._ny = 1
            self._bin_value = np.full(1, _OUTSIDE, dtype=np.int32)
            self._cand_ptr = np.zeros(1, dtype=np.int64)
            self._cand = np.zeros(0, dtype=np.int32)
            return
        minx, miny, maxx, maxy = shapely.total_bounds(self._geoms[nonempty])
        span = max(maxx - minx, maxy - miny)
        scale = max(abs(minx), abs(miny), abs(maxx), abs(maxy), span, 1e-300)
        # Tolerance far above the rounding error of the bin arithmetic and of the piece interpolation
        # below, far below any real feature size.
        eps = 1e-10 * scale
        self._eps = eps
        x0, y0 = minx - 2 * eps, miny - 2 * eps
        width, height = (maxx - minx) + 4 * eps, (maxy - miny) + 4 * eps
        target = min(max_bins, max(1, bins_per_grid * int(nonempty.sum())))
        cell = math.sqrt(width * height / target)
        nx = int(min(max(1, math.ceil(width / cell)), max_bins))
        ny = int(min(max(1, math.ceil(height / cell)), max(1, max_bins // nx)))
        w, h = width / nx, height / ny
        self._x0, self._y0, self._w, self._h, self._nx, self._ny = x0, y0, w, h, nx, ny

        # 1. Bins touched by any grid boundary, with the grids whose boundary touches them.
        bins, owners = self._boundary_bins(eps)
        pair_key = _unique_sorted(bins.astype(np.int64) * n + owners)
        bins, owners = pair_key // n, (pair_key % n).astype(np.int64)
        boundary = np.zeros(nx * ny, dtype=bool)
        boundary[bins] = True

        # 2. Bins no boundary touches form connected regions; each lies wholly inside the same set of
        #    grids (or none), so one exact lookup of a representative point answers the whole region.
        labels, nlab = ndimage.label(~boundary.reshape(ny, nx))
        labels = labels.ravel()
        bin_value = np.full(nx * ny, _OUTSIDE, dtype=np.int64)
        if nlab:
            flat = np.flatnonzero(labels)
            first = np.empty(nlab + 1, dtype=np.int64)
            first[labels[flat][::-1]] = flat[::-1]  # first bin of each label (last write wins)
            first = first[1:]
            cx, cy = self._centres(first)
            region_value = self._exact(cx, cy)
            lut = np.concatenate([[_OUTSIDE], region_value])
            bin_value[flat] = lut[labels[flat]]

        # 3. Boundary bins: candidates are the grids whose boundary touches the bin plus any grid that
        #    contains the whole bin (only possible where grids overlap): the grids covering the centre.
        bbins = np.flatnonzero(boundary)
        cx, cy = self._centres(bbins)
        c_pts, c_geo = self._tree.query(shapely.points(cx, cy), predicate="intersects")
        all_bins = np.concatenate([bins, bbins[c_pts]])
        all_owner = np.concatenate([owners, c_geo])
        key = _unique_sorted(all_bins * n + all_owner)  # sorted by bin, then by grid position
        all_bins, all_owner = key // n, key % n
        starts = np.searchsorted(all_bins, bbins)
        ends = np.searchsorted(all_bins, bbins, side="right")
        self._cand_ptr = np.concatenate([starts, ends[-1:]]).astype(np.int64) if bbins.size else np.zeros(1, np.int64)
        self._cand = all_owner.astype(np.int32)
        bin_value[bbins] = -2 - np.arange(bbins.size)
        if bin_value.min(initial=0) < np.iinfo(np.int32).min or n >= np.iinfo(np.int32).max:
            raise InputError("too many grids or bins for the locator", field="geometry")
        self._bin_value = bin_value.astype(np.int32)
        logger.debug("GridLocator: %d grids, %d x %d bins, %d boundary bins, %d candidates",
                     n, nx, ny, bbins.size, self._cand.size)

    def _centres(self, bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        iy, ix = np.divmod(bins, self._nx)
        return self._x0 + (ix + 0.5) * self._w, self._y0 + (iy + 0.5) * self._h

    def _boundary_bins(self, eps: float) -> tuple[np.ndarray, np.ndarray]:
        """Every (bin, grid) pair such that the grid's boundary passes within ``eps`` of the bin.

        Boundary segments are cut into pieces no longer than a bin; each piece's bounding box, widened by
        ``eps``, overlaps at most 3 x 3 bins, all of which are marked. Over-marking only costs speed.
        """
        parts, part_owner = shapely.get_parts(self._geoms, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        ring_owner = part_owner[ring_part]
        coords, ring_idx = shapely.get_coordinates(rings, return_index=True)
        if coords.shape[0] < 2:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        same = ring_idx[1:] == ring_idx[:-1]
        a, b = coords[:-1][same], coords[1:][same]
        seg_owner = ring_owner[ring_idx[:-1][same]]
        # Pieces: k per segment so each piece spans at most one bin width and height.
        k = np.maximum(1, np.ceil(np.maximum(np.abs(b[:, 0] - a[:, 0]) / self._w,
                                             np.abs(b[:, 1] - a[:, 1]) / self._h))).astype(np.int64)
        seg = np.repeat(np.arange(k.size), k)
        j = np.arange(seg.size) - np.repeat(np.cumsum(k) - k, k)
        t0 = j / k[seg]
        t1 = (j + 1) / k[seg]
        d = b[seg] - a[seg]
        p0 = a[seg] + t0[:, None] * d
        p1 = np.where((j + 1 == k[seg])[:, None], b[seg], a[seg] + t1[:, None] * d)
        lo = np.minimum(p0, p1) - eps
        hi = np.maximum(p0, p1) + eps
        ix0 = np.floor((lo[:, 0] - self._x0) / self._w).astype(np.int64)
        ix1 = np.floor((hi[:, 0] - self._x0) / self._w).astype(np.int64)
        iy0 = np.floor((lo[:, 1] - self._y0) / self._h).astype(np.int64)
        iy1 = np.floor((hi[:, 1] - self._y0) / self._h).astype(np.int64)
        owner = seg_owner[seg]
        out_bins, out_owner = [], []
        for dy in range(3):
            for dx in range(3):
                ix, iy = ix0 + dx, iy0 + dy
                ok = (ix <= ix1) & (iy <= iy1) & (ix >= 0) & (ix < self._nx) & (iy >= 0) & (iy < self._ny)
                out_bins.append(iy[ok] * self._nx + ix[ok])
                out_owner.append(owner[ok])
        return np.concatenate(out_bins), np.concatenate(out_owner).astype(np.int64)

    def _exact(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Lowest position of the grids covering each point, by STRtree (used at build time only)."""
        out = np.full(x.size, _NO_HIT, dtype=np.int64)
        if x.size:
            p, g = self._tree.query(shapely.points(x, y), predicate="intersects")
            np.minimum.at(out, p, g)
        out[out == _NO_HIT] = _OUTSIDE
        return out

    # ----------------------------------------------------------------------------------------------
    # Queries
    # ----------------------------------------------------------------------------------------------

    @property
    def n_grids(self) -> int:
        """Number of grid rows in the layer (positions run from 0 to ``n_grids - 1``)."""
        return len(self._geoms)

    @property
    def n_bins(self) -> tuple[int, int]:
        """Bin grid size as ``(nx, ny)``."""
        return self._nx, self._ny

    def locate(self, x: npt.ArrayLike, y: npt.ArrayLike) -> np.ndarray:
        """Row position of the grid covering each point, ``-1`` where no grid covers it.

        Parameters
        ----------
        x, y
            Coordinates in the layer's CRS, same shape (any shape; scalars allowed).

        Returns
        -------
        numpy.ndarray
            ``int64`` array of the same shape as ``x``: the lowest row position among the grids whose
            closed polygon covers the point (boundary included), ``-1`` outside every grid, inside a hole,
            or for ``NaN``/infinite coordinates.

        Raises
        ------
        InputError
            If ``x`` and ``y`` differ in shape or are not numeric.
        """
        xa, ya = _as_coords(x, y)
        shape = xa.shape
        xf, yf = xa.ravel(), ya.ravel()
        size = xf.size
        if self.workers > 1 and size >= 200_000:
            with ThreadPoolExecutor(self.workers) as pool:
                parts = list(pool.map(self._locate_flat, np.array_split(xf, self.workers),
                                      np.array_split(yf, self.workers)))
            return np.concatenate(parts).reshape(shape)
        return self._locate_flat(xf, yf).reshape(shape)

    def _locate_flat(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        fx = (x - self._x0) / self._w
        fy = (y - self._y0) / self._h
        inside = (fx >= 0) & (fx < self._nx) & (fy >= 0) & (fy < self._ny)  # False for NaN
        out = np.full(x.size, _OUTSIDE, dtype=np.int64)
        idx = np.flatnonzero(inside)
        if idx.size == 0:
            return out
        b = fy[idx].astype(np.int64) * self._nx + fx[idx].astype(np.int64)
        v = self._bin_value[b]
        out[idx] = v
        hard = v <= -2
        if not hard.any():
            return out
        pts = idx[hard]
        bb = -2 - v[hard].astype(np.int64)
        start = self._cand_ptr[bb]
        count = self._cand_ptr[bb + 1] - start
        pair_pt = np.repeat(np.arange(pts.size), count)
        offsets = np.cumsum(count) - count
        pair_cand = self._cand[np.repeat(start - offsets, count) + np.arange(pair_pt.size)]
        hit = shapely.intersects_xy(self._geoms[pair_cand], x[pts[pair_pt]], y[pts[pair_pt]])
        best = np.where(hit, pair_cand.astype(np.int64), _NO_HIT)
        # Candidates are sorted by position within a bin: the minimum per point is the lowest cover.
        res = np.full(pts.size, _NO_HIT, dtype=np.int64)
        nz = count > 0
        if pair_pt.size:
            res[nz] = np.minimum.reduceat(best, offsets[nz])
        res[res == _NO_HIT] = _OUTSIDE
        out[pts] = res
        return out

    def nearest(self, x: npt.ArrayLike, y: npt.ArrayLike, *,
                max_distance: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Grid covering each point, or else the nearest grid, with the distance to it.

        Parameters
        ----------
        x, y
            Coordinates in the layer's CRS, same shape.
        max_distance
            If given, points farther than this from every grid get position ``-1`` and distance ``NaN``.

        Returns
        -------
        positions : numpy.ndarray
            ``int64``: the covering grid as in :meth:`locate` (distance ``0``), else the nearest grid; among
            equally near grids the lowest row position. ``-1`` for ``NaN`` coordinates, an empty layer, or
            beyond ``max_distance``.
        distance : numpy.ndarray
            ``float64`` distance in **CRS units** (metres only if the layer is in a metric CRS; the server
            converts grids and points to a metric CRS first). ``NaN`` where position is ``-1``.
        """
        xa, ya = _as_coords(x, y)
        shape = xa.shape
        xf, yf = xa.ravel(), ya.ravel()
        pos = self._locate_flat(xf, yf)
        dist = np.where(pos >= 0, 0.0, np.nan)
        todo = np.flatnonzero((pos < 0) & np.isfinite(xf) & np.isfinite(yf))
        if todo.size and self._tree.geometries.size and not shapely.is_empty(self._geoms).all():
            p, g = self._tree.query_nearest(shapely.points(xf[todo], yf[todo]), max_distance=max_distance,
                                            return_distance=False, all_matches=True)
            if p.size:
                best = np.full(todo.size, _NO_HIT, dtype=np.int64)
                np.minimum.at(best, p, g)
                found = best != _NO_HIT
                sel = todo[found]
                pos[sel] = best[found]
                dist[sel] = shapely.distance(self._geoms[best[found]], shapely.points(xf[sel], yf[sel]))
        return pos.reshape(shape), dist.reshape(shape)

    def codes(self, positions: np.ndarray, column: str | None = None, missing: object = None) -> np.ndarray:
        """Map row positions to grid codes (the index, or ``column``), ``missing`` where position is -1.

        Parameters
        ----------
        positions
            Output of :meth:`locate` or :meth:`nearest`.
        column
            Column holding the codes; the frame index when ``None``.
        missing
            Value for positions ``-1``.

        Returns
        -------
        numpy.ndarray
            ``object`` array of codes, same shape as ``positions``.
        """
        pos = np.asarray(positions)
        if column is None:
            labels = np.asarray(self.frame.index, dtype=object)
        else:
            if not isinstance(self.frame, gpd.GeoDataFrame) or column not in self.frame.columns:
                raise InputError(f"no column '{column}' in the grid layer", field=column)
            labels = np.asarray(self.frame[column], dtype=object)
        out = np.full(pos.shape, missing, dtype=object)
        ok = pos >= 0
        out[ok] = labels[pos[ok]]
        return out


class NearestGrid:
    """The grid nearest to a point, with the distance in metres, for grids held in geographic degrees.

    Distances are measured in the Gauss-Krüger zone at the centre of the layer (never in degrees): the
    grids are projected once, and each point on the way in. Equally near grids resolve to the lowest row
    position, the same rule as :class:`GridLocator`.

    Parameters
    ----------
    grids
        Polygons in a geographic CRS (EPSG:4490 in wangge), in the order positions refer to.
    """

    def __init__(self, grids: gpd.GeoDataFrame | gpd.GeoSeries) -> None:
        if grids.crs is None or not grids.crs.is_geographic:
            raise InputError(f"NearestGrid needs grids in a geographic CRS; got {grids.crs}", field="grids")
        minx, miny, maxx, maxy = grids.total_bounds
        crs = metric_crs_for((minx + maxx) / 2, (miny + maxy) / 2)
        self._to_metric = pyproj.Transformer.from_crs(grids.crs, crs, always_xy=True)
        self._tree = shapely.STRtree(grids.to_crs(crs).geometry.to_numpy())

    def nearest(self, lon: float, lat: float) -> tuple[int, float]:
        """Position of the nearest grid and its distance in metres; ``(-1, nan)`` for a layer with none."""
        point = shapely.Point(*self._to_metric.transform(lon, lat))
        found, dist = self._tree.query_nearest(point, return_distance=True, all_matches=True)
        if found.size == 0:
            return -1, math.nan
        return int(found.min()), float(dist.min())


def _unique_sorted(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort + compare: much faster than the hash path of ``np.unique`` here)."""
    a = np.sort(a)
    return a[np.concatenate([[True], a[1:] != a[:-1]])] if a.size else a


def _as_coords(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates as float64 arrays of one shape, or :class:`InputError`."""
    try:
        xa = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"x coordinates are not numbers: {exc}", field="x") from None
    try:
        ya = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"y coordinates are not numbers: {exc}", field="y") from None
    if xa.shape != ya.shape:
        raise InputError(f"x and y differ in shape: {xa.shape} vs {ya.shape}", field="y")
    return xa, ya
