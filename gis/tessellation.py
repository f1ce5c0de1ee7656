"""Planar-arrangement machinery behind :mod:`gis.atoms`.

Why this exists rather than ``momepy.enclosed_tessellation``: momepy clips every cell to its
enclosure on its own, so neighbouring cells only *nearly* share their edges (floating-point slivers,
gaps of 1e-9 m) and a neighbour test without a fuzzy buffer misses them. Here every piece of
linework — community boundary, block edges, site outlines, footprints, Voronoi ridges — is
noded *once* with snap rounding on a fixed grid and polygonised into **faces**. Every later polygon
(parcel, atom, grid) is a union of faces, so two neighbours share their edge vertex for vertex, by
construction, and shared lengths are exact sums of face segments.

All lengths are metres and areas square metres: the caller guarantees a projected metric CRS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely

logger = logging.getLogger(__name__)

#: Snap-rounding grid of every output vertex (metres). Snap rounding makes noding robust (no
#: near-coincident vertices, no failed overlay) at any grid size; the grid only has to be fine
#: enough that rounding the community outline moves it by far less than the 1e-6 relative-area
#: tolerance: 1 cm or 1 mm fail that for a 100 m outline with arbitrary coordinates, 0.01 mm does
#: not, and 3.9e7 m (a zone-prefixed Gauss-Krüger easting) / 1e-5 still fits an int64 exactly.
GRID_SIZE = 1e-5

#: Two pieces are neighbours only when they share more than this much boundary (metres): a
#: point contact, or a 1-mm noding artefact, is not adjacency.
MIN_SHARED_LENGTH = 0.01


def run_starts(keys: np.ndarray) -> np.ndarray:
    """Mask of the first element of each run of equal values in a sorted array (empty-safe)."""
    keys = np.asarray(keys)
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return first


def extend_line_ends(lines: np.ndarray, distance: float) -> np.ndarray:
    """Extend both ends of each open line along its end segment.

    A road drawn to stop a little short of the boundary or of another road then still closes its
    block; the overshoot this creates elsewhere is a dangle, which polygonising drops.

    Parameters
    ----------
    lines
        LineStrings (metres).
    distance
        How far to extend each free end (metres).

    Returns
    -------
    numpy.ndarray
        LineStrings; closed rings and degenerate lines are returned as they were (rings) or
        dropped (lines with fewer than two distinct points).
    """
    lines = shapely.remove_repeated_points(np.asarray(lines, dtype=object))
    n_coords = shapely.get_num_coordinates(lines)
    lines = lines[n_coords >= 2]
    if len(lines) == 0 or distance <= 0:
        return lines
    coords, idx = shapely.get_coordinates(lines, return_index=True)
    counts = np.bincount(idx, minlength=len(lines))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    last = first + counts - 1
    open_ = ~np.all(coords[first] == coords[last], axis=1)
    f, lst = first[open_], last[open_]
    out = coords.copy()
    head = coords[f] - coords[f + 1]
    tail = coords[lst] - coords[lst - 1]
    out[f] += distance * head / np.hypot(*head.T)[:, None]
    out[lst] += distance * tail / np.hypot(*tail.T)[:, None]
    return shapely.linestrings(out, indices=idx)


def planar_faces(lines: np.ndarray, grid_size: float = GRID_SIZE) -> np.ndarray:
    """Node linework on a fixed grid and return the faces it encloses.

    Parameters
    ----------
    lines
        Any lineal geometries (metres); they need not be noded, may overlap and may dangle.
    grid_size
        Snap-rounding grid (metres).

    Returns
    -------
    numpy.ndarray
        Polygons forming an exact coverage (identical vertices on shared edges), in GEOS order,
        which is deterministic for a given input.
    """
    lines = np.asarray(lines, dtype=object)
    lines = lines[~shapely.is_empty(lines)]
    if len(lines) == 0:
        return np.empty(0, dtype=object)
    noded = shapely.union_all(lines, grid_size=grid_size)
    parts = shapely.get_parts(noded)
    parts = parts[shapely.get_type_id(parts) == 1]
    return shapely.get_parts(shapely.polygonize(parts))


@dataclass(frozen=True)
class Segments:
    """Every edge segment of a face coverage, each listed once.

    ``left`` and ``right`` are face positions; ``right`` is -1 on the outside of the coverage.
    ``coords`` holds (x0, y0, x1, y1) in metres and ``length`` the length in metres.
    """

    left: np.ndarray
    right: np.ndarray
    length: np.ndarray
    coords: np.ndarray

    def relabel(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map both sides to labels (-1 stays -1 for the outside)."""
        lab = np.append(np.asarray(labels), -1)
        return lab[self.left], lab[self.right]


def face_segments(faces: np.ndarray, grid_size: float = GRID_SIZE) -> Segments:
    """List the segments of a face coverage with the face on each side.

    Faces from :func:`planar_faces` have all vertices on the grid and share edges vertex for
    vertex, so a segment is identified exactly by its two grid-integer endpoints.

    Parameters
    ----------
    faces
        Polygons of an exact coverage.
    grid_size
        The grid their vertices lie on (metres).

    Returns
    -------
    Segments
    """
    rings, ring_face = shapely.get_rings(faces, return_index=True)
    coords, ring_idx = shapely.get_coordinates(rings, return_index=True)
    same = ring_idx[:-1] == ring_idx[1:]
    p, q = coords[:-1][same], coords[1:][same]
    face = ring_face[ring_idx[:-1][same]]
    ip = np.rint(p / grid_size).astype(np.int64)
    iq = np.rint(q / grid_size).astype(np.int64)
    swap = (ip[:, 0] > iq[:, 0]) | ((ip[:, 0] == iq[:, 0]) & (ip[:, 1] > iq[:, 1]))
    lo = np.where(swap[:, None], iq, ip)
    hi = np.where(swap[:, None], ip, iq)
    keep = ~np.all(lo == hi, axis=1)  # zero-length segments after rounding carry no boundary
    lo, hi, face, p, q = lo[keep], hi[keep], face[keep], p[keep], q[keep]
    order = np.lexsort((face, hi[:, 1], hi[:, 0], lo[:, 1], lo[:, 0]))
    key = np.hstack([lo, hi])[order]
    face = face[order]
    xy = np.hstack([p, q])[order]
    new = np.ones(len(key), dtype=bool)
    new[1:] = np.any(key[1:] != key[:-1], axis=1)
    start = np.flatnonzero(new)
    count = np.diff(np.append(start, len(key)))
    if np.any(count > 2):
        # Only possible if the faces overlap; keep the first two so the table stays usable.
        logger.warning("%d segments are shared by more than two faces", int(np.sum(count > 2)))
    left = face[start]
    right = np.where(count >= 2, face[np.minimum(start + 1, len(face) - 1)], -1)
    seg = xy[start]
    length = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    return Segments(left=left, right=right, length=length, coords=seg)


def shared_lengths(segments: Segments, labels: np.ndarray, *,
                   weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Total shared boundary between each pair of distinct labels.

    Parameters
    ----------
    segments
        From :func:`face_segments`.
    labels
        Label per face; pairs with a negative label on either side are ignored.
    weights
        Per-segment value to sum instead of the segment length (metres).

    Returns
    -------
    tuple of numpy.ndarray
        ``a``, ``b`` (a < b) and the summed length (metres), sorted by (a, b).
    """
    la, lb = segments.relabel(labels)
    w = segments.length if weights is None else weights
    m = (la >= 0) & (lb >= 0) & (la != lb)
    a, b = np.minimum(la[m], lb[m]), np.maximum(la[m], lb[m])
    if not len(a):
        return a, b, np.empty(0)
    order = np.lexsort((b, a))
    a, b, w = a[order], b[order], w[m][order]
    new = np.ones(len(a), dtype=bool)
    new[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    start = np.flatnonzero(new)
    return a[start], b[start], np.add.reduceat(w, start)


def outer_lengths(segments: Segments, labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Boundary length of each label lying on the outside of the coverage (metres)."""
    la, lb = segments.relabel(labels)
    m = (lb < 0) & (la >= 0)
    return np.bincount(la[m], weights=segments.length[m], minlength=n_labels)


def label_components(n_faces: int, pair_a: np.ndarray, pair_b: np.ndarray, pair_len: np.ndarray,
                     labels: np.ndarray, min_length: float = MIN_SHARED_LENGTH) -> np.ndarray:
    """Connected pieces of each label: pieces joined when they share more than ``min_length`` metres.

    With ``min_length=0`` a component is exactly what a union turns into one Polygon; the default
    matches what counts as adjacency between atoms.

    Returns
    -------
    numpy.ndarray
        Component number per piece (pieces with label -1 are grouped by contact as well).
    """
    m = (labels[pair_a] == labels[pair_b]) & (pair_len > min_length)
    return connected_labels(n_faces, pair_a[m], pair_b[m])


def connected_labels(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of the graph on nodes 0..n-1 with edges (a, b), numbered 0.. by smallest node.

    The numbering is that of scipy's ``connected_components``; this takes a few rounds of array operations
    (each joins every edge's two roots under the smaller, then lets every node jump to its root)
    and spares the divide path scipy's import (a quarter of a second).
    """
    root = np.arange(n)
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    while len(a):
        ra, rb = root[a], root[b]
        split = ra != rb
        if not split.any():
            break
        ra, rb = ra[split], rb[split]
        np.minimum.at(root, np.maximum(ra, rb), np.minimum(ra, rb))
        while True:  # pointer jumping: every node straight to its root
            up = root[root]
            if (up == root).all():
                break
            root = up
    return np.unique(root, return_inverse=True)[1].reshape(-1)


def merge_slivers(segments: Segments, area: np.ndarray, labels: np.ndarray, *, min_area: float,
                  min_width: float) -> np.ndarray:
    """Merge sliver labels, smallest first, into the neighbour sharing the longest edge.

    A sliver is a label under ``min_area`` m² or narrower than ``min_width`` m on average (twice
    its area over its perimeter): a road drawn twice, a road along the boundary, a site outline
    a little off its road. A sliver with no neighbour (an island) stays.

    Parameters
    ----------
    segments
        From :func:`face_segments`.
    area
        Area of each face (m²).
    labels
        Label per face (non-negative).
    min_area, min_width
        Thresholds (m², m).

    Returns
    -------
    numpy.ndarray
        New label per face (a subset of the old labels).
    """
    labels = np.asarray(labels).copy()
    stuck: set[int] = set()
    while len(labels):
        la, lb = segments.relabel(labels)
        cut = la != lb
        n_lab = labels.max() + 1
        lab_area = np.bincount(labels, weights=area, minlength=n_lab)
        inner = cut & (lb >= 0)
        perimeter = (np.bincount(la[cut], weights=segments.length[cut], minlength=n_lab)
                     + np.bincount(lb[inner], weights=segments.length[inner], minlength=n_lab))
        present = np.setdiff1d(np.unique(labels), np.fromiter(stuck, dtype=np.int64, count=len(stuck)))
        sliver = present[(lab_area[present] < min_area)
                         | (2 * lab_area[present] < min_width * perimeter[present])]
        if not len(sliver):
            break
        worst = sliver[np.argmin(lab_area[sliver])]
        a, b, length = shared_lengths(segments, labels)
        mine = (a == worst) | (b == worst)
        if not mine.any():
            stuck.add(int(worst))
            continue
        best = np.flatnonzero(mine)[np.argmax(length[mine])]
        labels[labels == worst] = b[best] if a[best] == worst else a[best]
    return labels


def voronoi_ridges(points: np.ndarray, labels: np.ndarray, bounds: tuple[float, float, float, float]
                   ) -> shapely.MultiLineString:
    """Voronoi edges that separate generator points of *different* labels.

    Their union is the boundary between the cells of the labels (the Voronoi cells dissolved per
    label), obtained without any polygon union. See :func:`grouped_voronoi_ridges`.

    Parameters
    ----------
    points
        (n, 2) generator coordinates (metres), distinct.
    labels
        Label (e.g. building number) per point.
    bounds
        (minx, miny, maxx, maxy) of the area the ridges must cover (metres).

    Returns
    -------
    shapely.MultiLineString
        Two-point segments (possibly empty), reaching beyond ``bounds``.
    """
    return grouped_voronoi_ridges(points, labels, np.zeros(len(points), dtype=np.int64),
                                  np.asarray([bounds], dtype=float))[0]


def grouped_voronoi_ridges(points: np.ndarray, labels: np.ndarray, groups: np.ndarray, bounds: np.ndarray
                           ) -> np.ndarray:
    """Voronoi ridges between points of different labels, computed for each group of points on its own.

    One triangulation serves every group: each group is moved to its own place along a line, far
    enough from the others (2.5 times the larger extent) that within its bounds no point of
    another group is nearer than its own points, so its ridges there are those of its own Voronoi
    diagram. The Voronoi edge dual to a Delaunay edge joins the circumcentres of the two
    triangles on it. GEOS triangulates (about twice as fast as qhull on outline samples, whose many
    co-circular points qhull handles slowly); its triangles carry the input coordinates unchanged,
    Z included, so a point's position given as its Z names each corner.

    Parameters
    ----------
    points
        (n, 2) generator coordinates (metres), distinct within each group.
    labels
        Label per point.
    groups
        Group 0..G-1 per point.
    bounds
        (G, 4) minx, miny, maxx, maxy of the area each group's ridges must cover (metres).

    Returns
    -------
    numpy.ndarray
        G MultiLineStrings of two-point segments (possibly empty), reaching beyond the bounds.
    """
    points, groups = np.asarray(points, dtype=float), np.asarray(groups, dtype=np.int64)
    bounds = np.array(bounds, dtype=float).reshape(-1, 4)
    n_groups = len(bounds)
    if len(points):
        # Bounds that also hold every point of the group, whatever the caller passed.
        np.minimum.at(bounds[:, 0], groups, points[:, 0])
        np.minimum.at(bounds[:, 1], groups, points[:, 1])
        np.maximum.at(bounds[:, 2], groups, points[:, 0])
        np.maximum.at(bounds[:, 3], groups, points[:, 1])
    centre = (bounds[:, :2] + bounds[:, 2:]) / 2
    extent = np.hypot(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1]) + 1.0
    step = 3 * (extent[:-1] + extent[1:])
    place = np.column_stack([np.r_[0.0, np.cumsum(step)], np.zeros(n_groups)])
    shift = place - centre  # moved point = point + shift of its group
    pts = points + shift[groups]
    lo, hi = pts.min(axis=0) if len(pts) else np.zeros(2), pts.max(axis=0) if len(pts) else np.zeros(2)
    mid, far = (lo + hi) / 2, 4 * max(float(np.max(hi - lo)), float(extent.max()), 1.0)
    # Four far corners make every ridge between real points finite: only ridges between the
    # corners themselves go to infinity.
    corners = mid + np.array([[-far, -far], [far, -far], [far, far], [-far, far]])
    n = len(pts)
    pts = np.vstack([pts, corners])
    # Z = the point's position (triangles keep it); a LineString, not a MultiPoint: same triangles, no Point per sample
    numbered = np.column_stack([pts, np.arange(len(pts), dtype=float)])
    tri = shapely.get_coordinates(shapely.delaunay_triangles(shapely.linestrings(numbered)), include_z=True)
    tri = tri.reshape(-1, 4, 3)[:, :3]  # closed rings: the 4th coordinate repeats the 1st
    simp = tri[:, :, 2].astype(np.int64)
    centres = _circumcentres(tri[:, :, :2])
    lab = np.append(np.asarray(labels), [-1, -2, -3, -4])
    grp = np.append(groups, [-1, -2, -3, -4])
    # Every triangle edge between points of one group and different labels; the two triangles
    # sharing an edge are adjacent after sorting by edge, and their circumcentres bound its ridge.
    # An edge of one triangle only lies on the hull, which the far corners keep away from points.
    p, q = simp.ravel(), simp[:, [1, 2, 0]].ravel()
    tri_of = np.repeat(np.arange(len(simp)), 3)
    keep = (p < n) & (q < n) & (lab[p] != lab[q]) & (grp[p] == grp[q])
    p, q, tri_of = p[keep], q[keep], tri_of[keep]
    edge = np.minimum(p, q).astype(np.int64) * (n + 4) + np.maximum(p, q)
    order = np.argsort(edge, kind="stable")
    edge, tri_of, p = edge[order], tri_of[order], p[order]
    pair = np.flatnonzero(edge[1:] == edge[:-1])
    seg_group = grp[p[pair]]
    segs = np.stack([centres[tri_of[pair]], centres[tri_of[pair + 1]]], axis=1) - shift[seg_group][:, None, :]
    ok = np.isfinite(segs).all(axis=(1, 2)) & np.any(segs[:, 0] != segs[:, 1], axis=1)
    segs, seg_group = segs[ok], seg_group[ok]
    by_group = np.argsort(seg_group, kind="stable")
    segs, seg_group = segs[by_group], seg_group[by_group]
    m = len(segs)
    counts = np.bincount(seg_group, minlength=n_groups)
    return shapely.from_ragged_array(
        shapely.GeometryType.MULTILINESTRING, segs.reshape(-1, 2),
        (np.arange(0, 2 * m + 1, 2), np.r_[0, np.cumsum(counts)]))


def _circumcentres(tri: np.ndarray) -> np.ndarray:
    """Circumcentre of each triangle (t, 3, 2), computed relative to its first corner for precision."""
    a = tri[:, 0]
    b, c = tri[:, 1] - a, tri[:, 2] - a
    d = 2 * (b[:, 0] * c[:, 1] - b[:, 1] * c[:, 0])
    sb, sc = (b ** 2).sum(1), (c ** 2).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ux = (c[:, 1] * sb - b[:, 1] * sc) / d
        uy = (b[:, 0] * sc - c[:, 0] * sb) / d
    return np.column_stack([ux, uy]) + a


def dissolve_faces(faces: np.ndarray, labels: np.ndarray, n_labels: int, *,
                   union: Callable = shapely.coverage_union_all) -> np.ndarray:
    """Union the faces of each label (label -1: left out) with ``union``, called once with ``axis=1``.

    The default, coverage union, is exact and keeps shared vertices, for faces that only touch;
    geometries that may overlap need ``shapely.union_all``.

    Returns
    -------
    numpy.ndarray
        One geometry per label 0..n_labels-1 (empty Polygon where a label has no face).
    """
    out = np.full(n_labels, shapely.Polygon(), dtype=object)
    m = labels >= 0
    idx = np.flatnonzero(m)
    order = idx[np.argsort(labels[m], kind="stable")]
    lab = labels[order]
    if not len(lab):
        return out
    starts = np.flatnonzero(run_starts(lab))
    count = np.diff(np.r_[starts, len(lab)])
    single = count == 1
    out[lab[starts[single]]] = faces[order[starts[single]]]
    several = np.flatnonzero(~single)
    if len(several):
        # One row per label, padded with None (which a union skips): one call for every label.
        rows = padded_groups(faces[order], starts[several], count[several])
        out[lab[starts[several]]] = union(rows, axis=1)
    return out


def padded_groups(items: np.ndarray, starts: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Row k holds ``items[starts[k]:starts[k] + count[k]]`` then None: groups for one ``axis=1`` call."""
    rows = np.full((len(starts), int(count.max(initial=0))), None, dtype=object)
    row = np.repeat(np.arange(len(starts)), count)
    col = np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count)
    rows[row, col] = items[np.repeat(starts, count) + col]
    return rows


def on_line_lengths(segments_xy: np.ndarray, lines: np.ndarray, tolerance: float) -> np.ndarray:
    """Length of each segment lying within ``tolerance`` of any of ``lines`` (metres).

    Each line is cut into its straight pieces and each piece buffered into a convex capsule (the
    polygon GEOS makes with ``quad_segs=4``); a segment meets a capsule in one interval, and the
    union of those intervals is measured, so overlapping capsules are not counted twice.

    Parameters
    ----------
    segments_xy
        (n, 4) segment end coordinates x0, y0, x1, y1 (metres).
    lines
        Lineal geometries (the barriers), metres.
    tolerance
        Buffer distance (metres).

    Returns
    -------
    numpy.ndarray
        Length in metres per segment.
    """
    n = len(segments_xy)
    result = np.zeros(n)
    lines = np.asarray(lines, dtype=object)
    if n == 0 or len(lines) == 0:
        return result
    coords, idx = shapely.get_coordinates(shapely.get_parts(lines), return_index=True)
    same = idx[:-1] == idx[1:]
    p0, p1 = coords[:-1][same], coords[1:][same]
    real = np.hypot(*(p1 - p0).T) > 0
    p0, p1 = p0[real], p1[real]
    radius = max(tolerance, 1e-9)
    # Candidate pairs by boxes: the piece's box grown by the radius holds its capsule.
    lo, hi = np.minimum(p0, p1) - radius, np.maximum(p0, p1) + radius
    boxes = shapely.box(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1])
    segs = shapely.linestrings(segments_xy.reshape(-1, 2, 2))
    si, ci = shapely.STRtree(boxes).query(segs)  # boxes only: clipping tells the rest
    if not len(si):
        return result
    seg_len = np.hypot(segments_xy[:, 2] - segments_xy[:, 0], segments_xy[:, 3] - segments_xy[:, 1])
    t_lo, t_hi = _clip_to_capsules(segments_xy[si], p0[ci], p1[ci], radius)
    ok = t_hi > t_lo
    si = si[ok]
    if not len(si):
        return result
    # Where the segment runs inside the capsule, as distances along it (one interval: capsules are convex).
    lo, hi = t_lo[ok] * seg_len[si], t_hi[ok] * seg_len[si]
    order = np.lexsort((lo, si))
    si, lo, hi = si[order], lo[order], hi[order]
    # Union length of sorted intervals: each adds what lies beyond the furthest end seen so far
    # within its segment. Offsetting by group turns the per-group running max into one pass.
    new = run_starts(si)
    group = np.cumsum(new) - 1
    big = float(seg_len.max()) + 1.0
    running = np.maximum.accumulate(hi + group * big) - group * big
    prev_max = np.where(new, -np.inf, np.r_[-np.inf, running[:-1]])
    gain = np.clip(hi - np.maximum(lo, prev_max), 0, None)
    np.add.at(result, si, gain)
    return np.minimum(result, seg_len)


#: Corners of a capsule, clockwise: around the far end from +90° to -90° of the piece's direction,
#: then around the near end from -90° to -270°, in steps of 22.5° (a quarter circle in 4, as GEOS
#: buffers with ``quad_segs=4``).
_CAPSULE_TURNS = np.pi / 2 - np.arange(9) * (np.pi / 8)


def _capsule_corners(p0: np.ndarray, p1: np.ndarray, radius: float) -> np.ndarray:
    """(k, 18, 2) corners, clockwise, of ``shapely.buffer(LineString([p0, p1]), radius, quad_segs=4)``.

    Computed as GEOS computes them (each corner is the end plus the radius at its angle), so they
    agree with the buffered polygon to rounding, without building a polygon per barrier piece (that
    took as long as all the clipping).
    """
    heading = np.arctan2(p1[:, 1] - p0[:, 1], p1[:, 0] - p0[:, 0])
    angle = np.hstack([heading[:, None] + _CAPSULE_TURNS, heading[:, None] - np.pi + _CAPSULE_TURNS])
    ends = np.repeat(np.stack([p1, p0], axis=1), 9, axis=1)
    return ends + radius * np.stack([np.cos(angle), np.sin(angle)], axis=-1)


def _clip_to_capsules(segments_xy: np.ndarray, p0: np.ndarray, p1: np.ndarray, radius: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Part of each segment inside the capsule of its piece ``p0``-``p1``, as fractions ``t_lo``, ``t_hi`` along it.

    Cyrus-Beck against the capsule's 18 edges, as (pairs, 18) arrays. Where ``t_hi <= t_lo`` the
    segment misses the capsule or only touches it. Array arithmetic, where an overlay per pair cost
    a third of the atoms' assembly.
    """
    v0 = _capsule_corners(p0, p1, radius)
    edge = np.roll(v0, -1, axis=1) - v0
    # Inward normals of a clockwise ring: the interior lies to the right of each edge.
    nx, ny = edge[..., 1], -edge[..., 0]
    ax, ay = segments_xy[:, 0, None], segments_xy[:, 1, None]
    dx, dy = segments_xy[:, 2, None] - ax, segments_xy[:, 3, None] - ay
    num = nx * (ax - v0[..., 0]) + ny * (ay - v0[..., 1])
    den = nx * dx + ny * dy
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -num / den
    enter = np.where(den > 0, t, np.where((den == 0) & (num < 0), np.inf, -np.inf))
    leave = np.where(den < 0, t, np.inf)
    return np.maximum(enter.max(axis=1), 0.0), np.minimum(leave.min(axis=1), 1.0)
