"""Generate the synthetic demo county 示范县 (Demo County): areas, barriers, buildings, sites, addresses.

Everything is fictional and built from one seeded ``numpy.random.Generator`` (never the global random
state), so the same seed and scale always give the same data. See ``README.md`` beside this file
for the algorithm, the codes and the layer schema.

Usage::

    python data/boundaries/generate.py [--seed 2026] [--out data/boundaries/demo] [--scale 1.0]

or, from Python::

    from generate import generate_county, write_county
    layers = generate_county(seed=2026, scale=1.0)
    write_county(layers, "data/boundaries/demo")

All geometry is built in metres in a local frame anchored on EPSG:4549 (CGCS2000 3-degree
Gauss-Krüger, central meridian 120°E) and converted to EPSG:4490 (CGCS2000 lon/lat) at the end.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely import affinity

STORAGE_CRS = "EPSG:4490"
METRIC_CRS = "EPSG:4549"
ORIGIN_LONLAT = (119.99, 31.70)  # centre of the county (southern Jiangsu, fictional)

COUNTY_CODE = "320499000000"
COUNTY_NAME = "示范县"
CITY_NAME = "示范市"
GPKG_NAME = "demo_county.gpkg"
CSV_NAME = "addresses.csv"
GPKG_LAYERS = ("areas", "barriers", "buildings", "sites")
ADDRESS_COLUMNS = ["id", "address", "city", "district", "road", "number", "building", "unit",
                   "building_id", "households", "lon", "lat"]

#: Distance (m) from a road centre line to the edge of what may be built on, by road class.
ROAD_SETBACK = {"arterial": 24.0, "secondary": 18.0, "local": 12.0, "lane": 6.0}
CLASS_RANK = {"arterial": 3, "secondary": 2, "local": 1, "lane": 0}
HOUSEHOLD_SIZE = 2.6

# --------------------------------------------------------------------------------------------------
# Names (all fictional or generic)
# --------------------------------------------------------------------------------------------------

STREET_NAMES = ["城关街道", "东城街道", "西城街道", "南湖街道", "北湖街道", "新城街道", "滨河街道", "文昌街道",
                "龙城街道", "钟楼街道"]
TOWN_NAMES = ["青石镇", "云台镇", "龙潭镇", "白塔镇", "湖塘镇", "横山镇", "芙蓉镇", "太平镇", "前黄镇", "南渡镇"]
COMMUNITY_NAMES = [
    "人民社区", "解放社区", "建设社区", "文化社区", "新华社区", "朝阳社区", "东门社区", "西门社区", "南门社区",
    "北门社区", "和平社区", "锦绣社区", "阳光社区", "花园社区", "府前社区", "学府社区", "滨河社区", "青年社区",
    "光明社区", "健康社区", "幸福社区", "友谊社区", "胜利社区", "红星社区", "翠苑社区", "新城社区", "春江社区",
    "钟楼社区", "大庙社区", "西园社区", "东园社区", "南苑社区", "北苑社区", "城中社区", "长安社区", "永宁社区",
    "仁和社区", "兴隆社区", "丽华社区", "清潭社区", "博爱社区", "迎春社区", "红梅社区", "荆川社区", "白云社区",
]
VILLAGE_NAMES = [
    "青石村", "柳塘村", "石桥村", "荷花村", "桃园村", "新丰村", "龙潭村", "白塔村", "长荡村", "前黄村", "后塘村",
    "西庄村", "东庄村", "朱家村", "沈家村", "杨巷村", "芦墩村", "花园村", "南渡村", "北渚村", "湖头村", "塘桥村",
    "周家村", "陈庄村", "新桥村", "三河村", "五星村", "红旗村", "永安村", "太平村", "团结村", "光明村", "建新村",
    "联合村", "东风村", "和平村", "万寿村", "金桥村", "双庙村", "大圩村", "南圩村", "北圩村", "戴家村", "蒋墅村",
]
EW_ARTERIALS = ["人民路", "解放路", "长江路", "太湖路", "延陵路", "青洋路", "龙锦路", "丽江路", "永宁路", "金陵路",
                "玉龙路", "运河路"]
NS_ARTERIALS = ["建设路", "中山路", "和平路", "晋陵路", "通江路", "劳动路", "广电路", "常澄路", "飞龙路", "天宁路",
                "采菱路", "怀德路"]
SECONDARY_NAMES = [
    "文化路", "健康路", "新华街", "解放街", "光明路", "青年路", "朝阳路", "学府路", "府前街", "西门街", "南大街",
    "北大街", "东横街", "县直街", "局前街", "广化街", "兰陵路", "丽华路", "花园街", "博爱路", "迎春路", "红梅路",
    "北环路", "南环路", "关河路", "清潭路", "荆川路", "白云路", "桃园路", "鸣珂街", "罗汉路", "双桂街",
]
LOCAL_PREFIXES = [
    "桂花", "丁香", "枫林", "梧桐", "银杏", "紫薇", "香樟", "玉兰", "海棠", "石榴", "樱花", "青枫", "翠竹", "芙蓉",
    "荷花", "百合", "茉莉", "蔷薇", "杜鹃", "红枫", "腊梅", "木樨", "松林", "柏林", "杨柳", "竹林", "桃李", "杏林",
    "樟树", "榆林", "菱湖", "莲花", "牡丹", "芍药", "兰花", "菊花", "水仙", "山茶", "凌霄", "紫藤",
]
LOCAL_SUFFIXES = ["巷", "路", "街"]
RURAL_NS = ["青石路", "云台路", "龙潭路", "白塔路", "湖塘路", "横山路", "芙蓉路", "太平路", "南渡路", "前黄路",
            "戴溪路", "蒋墅路"]
RURAL_LOCAL = ["田园路", "稻香路", "桑园路", "渔港路", "菱塘路", "荷塘路", "麦香路", "果园路", "茶场路", "花木路",
               "农场路", "苗圃路", "河埒路", "圩田路"]
COMPOUND_PREFIXES = [
    "阳光", "锦绣", "幸福", "金色", "翠竹", "紫薇", "丽景", "春江", "名都", "碧水", "康乐", "华府", "东方", "滨河",
    "文苑", "新城", "富康", "怡景", "玉兰", "银杏", "和平", "南苑", "北苑", "清水", "长江", "凤凰", "御景", "香樟",
    "丁香", "枫林", "桂园", "荷园", "静园", "吉祥", "万福", "安居", "乐居", "嘉禾", "天和", "世纪",
]
COMPOUND_SUFFIXES = ["花园", "苑", "家园", "新村", "小区", "华庭", "公寓", "名邸", "雅居", "山庄"]
OLD_COMPOUNDS = ["化肥厂宿舍", "棉纺厂宿舍", "工人新村", "供销社宿舍", "机械厂宿舍", "粮站宿舍", "教师新村",
                 "电力新村", "邮电新村", "水利新村"]
SURNAMES = ["张", "王", "李", "赵", "陈", "刘", "杨", "黄", "周", "吴", "徐", "孙", "朱", "马", "胡", "郭", "林",
            "何", "高", "罗", "郑", "梁", "谢", "宋", "唐", "许", "邓", "冯", "韩", "曹", "沈", "蒋", "钱", "顾"]
HAMLET_SUFFIXES = ["家巷", "家宅巷", "庄巷", "家湾巷", "家塘巷", "家桥巷", "家埭巷", "家村巷", "家浜巷", "家圩巷"]
CHINESE_DIGITS = "〇一二三四五六七八九"


def _pick_name(pool: list[str], i: int, suffix: str) -> str:
    """The i-th name of ``pool``; past its end, '人民二路'-style variants (suffix kept last)."""
    if i < len(pool):
        return pool[i]
    base = pool[i % len(pool)].removesuffix(suffix)
    return f"{base}{CHINESE_DIGITS[(i // len(pool)) % 9 + 1]}{suffix}"


class _Namer:
    """Unique names from prefix × suffix combinations, in a seeded order.

    Past the last combination it goes on with '阳光花园二期' (``style='phase'``) or '桂花二巷'
    (``style='ordinal'``) variants.
    """

    def __init__(self, rng: np.random.Generator, prefixes: list[str], suffixes: list[str],
                 style: str = "ordinal"):
        combos = [(p, s) for s in suffixes for p in prefixes]
        order = rng.permutation(len(combos))
        self._combos = [combos[i] for i in order]
        self._next = 0
        self._style = style

    def take(self) -> str:
        rounds, k = divmod(self._next, len(self._combos))
        self._next += 1
        prefix, suffix = self._combos[k]
        if rounds == 0:
            return prefix + suffix
        digit = CHINESE_DIGITS[rounds % 9 + 1]
        return f"{prefix}{suffix}{digit}期" if self._style == "phase" else f"{prefix}{digit}{suffix}"


# --------------------------------------------------------------------------------------------------
# The warped grid frame
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """Map from the regular (u, v) planning frame to local metres (x east, y north).

    ``(u, v)`` is first bent by two gentle sinusoids and then rotated by ``theta``, so grid lines
    come out slightly curved and the town is not aligned with north.
    """

    theta: float
    a1: float
    k1: float
    p1: float
    a2: float
    k2: float
    p2: float

    def forward(self, u, v):
        uu = u + self.a1 * np.sin(self.k1 * v + self.p1)
        vv = v + self.a2 * np.sin(self.k2 * u + self.p2)
        c, s = math.cos(self.theta), math.sin(self.theta)
        return c * uu - s * vv, s * uu + c * vv

    def inverse(self, x, y):
        c, s = math.cos(self.theta), math.sin(self.theta)
        p = c * np.asarray(x, float) + s * np.asarray(y, float)
        q = -s * np.asarray(x, float) + c * np.asarray(y, float)
        u, v = p.copy(), q.copy()
        for _ in range(60):
            u = p - self.a1 * np.sin(self.k1 * v + self.p1)
            v = q - self.a2 * np.sin(self.k2 * u + self.p2)
        return u, v

    def u_angle(self, u, v) -> float:
        """Direction (radians, from east) of the u axis at (u, v)."""
        du = np.array([1.0, self.a2 * self.k2 * math.cos(self.k2 * u + self.p2)])
        dv = np.array([self.a1 * self.k1 * math.cos(self.k1 * v + self.p1), 1.0])
        # the frame is not quite orthogonal: take the mean of the u axis and the turned v axis
        ang_u = math.atan2(du[1], du[0])
        ang_v = math.atan2(dv[1], dv[0]) - math.pi / 2
        return self.theta + 0.5 * (ang_u + ang_v)


@dataclass(frozen=True)
class GridLine:
    """A grid line in the planning frame: ``u = pos(v)`` (axis 'ns') or ``v = pos(u)`` (axis 'ew')."""

    axis: str
    c0: float
    slope: float = 0.0
    waves: tuple[tuple[float, float, float], ...] = ()  # (amplitude, wavelength, phase)

    def pos(self, t):
        t = np.asarray(t, float)
        out = self.c0 + self.slope * t
        for amp, wl, ph in self.waves:
            out = out + amp * np.sin(2 * math.pi * t / wl + ph)
        return out

    def side(self, u, v):
        """Positive east of an 'ns' line / north of an 'ew' line."""
        return (u - self.pos(v)) if self.axis == "ns" else (v - self.pos(u))

    def uv(self, t0: float, t1: float, step: float = 15.0) -> np.ndarray:
        n = max(2, int(math.ceil(abs(t1 - t0) / step)) + 1)
        t = np.linspace(t0, t1, n)
        p = self.pos(t)
        return np.column_stack([p, t]) if self.axis == "ns" else np.column_stack([t, p])


def _crossing(a: GridLine, b: GridLine, guess: float) -> float:
    """Parameter t along ``a`` where it meets ``b`` (lines of opposite axes)."""
    t = guess
    for _ in range(100):
        t = b.pos(a.pos(t))
    return float(t)


def _blend(a: GridLine, b: GridLine, f: float, jitter: GridLine | None = None) -> GridLine:
    """A line a fraction ``f`` of the way from ``a`` to ``b`` (same axis)."""
    waves = tuple((amp * (1 - f), wl, ph) for amp, wl, ph in a.waves) + \
        tuple((amp * f, wl, ph) for amp, wl, ph in b.waves)
    if jitter is not None:
        waves += jitter.waves
    return GridLine(a.axis, (1 - f) * a.c0 + f * b.c0, (1 - f) * a.slope + f * b.slope, waves)


# --------------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------------

def _to_local(geom, origin: tuple[float, float], ang: float):
    c, s = math.cos(-ang), math.sin(-ang)
    ox, oy = origin
    return affinity.affine_transform(geom, [c, -s, s, c, -(c * ox - s * oy), -(s * ox + c * oy)])


def _local_to_world(lx, ly, origin: tuple[float, float], ang: float):
    c, s = math.cos(ang), math.sin(ang)
    return origin[0] + c * lx - s * ly, origin[1] + s * lx + c * ly


def _rects(cx, cy, length, depth, ang) -> np.ndarray:
    """Rotated rectangles (centre, length along ``ang``, depth across) as shapely polygons."""
    cx, cy, length, depth, ang = (np.atleast_1d(np.asarray(a, float)) for a in (cx, cy, length, depth, ang))
    hx = np.array([-0.5, 0.5, 0.5, -0.5, -0.5])
    hy = np.array([-0.5, -0.5, 0.5, 0.5, -0.5])
    lx = hx[None, :] * length[:, None]
    ly = hy[None, :] * depth[:, None]
    c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
    x = cx[:, None] + c * lx - s * ly
    y = cy[:, None] + s * lx + c * ly
    return shapely.polygons(np.stack([x, y], axis=-1))


def _largest(geom):
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type == "Polygon":
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type == "Polygon"]
    return max(parts, key=lambda g: g.area) if parts else None


# --------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------

@dataclass
class Building:
    cx: float
    cy: float
    ang: float
    length: float
    depth: float
    storeys: int
    units: int
    households: int
    community: str
    compound: str | None = None  # site id
    site: str | None = None  # exclusive site kind
    name: str | None = None
    road: str | None = None
    number: int | None = None
    village: str | None = None  # administrative village, the prefix of a house's address


@dataclass
class Site:
    sid: str
    name: str
    kind: str
    community: str
    geom: shapely.Polygon
    walled: bool
    road: str | None = None
    number: int | None = None
    buildings: list[Building] = field(default_factory=list)


@dataclass
class RoadLine:
    name: str | None
    cls: str
    kind: str  # road | river | rail
    geom: shapely.LineString


# --------------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------------

class _County:
    def __init__(self, seed: int, scale: float):
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.rng = np.random.default_rng(seed)
        self.scale = scale
        self.site_seq = 0
        self.sites: list[Site] = []
        self.buildings: list[Building] = []
        self.lines: list[RoadLine] = []  # source lines before noding
        self.compound_names = _Namer(self.rng, COMPOUND_PREFIXES, COMPOUND_SUFFIXES, style="phase")
        self.local_names = _Namer(self.rng, LOCAL_PREFIXES, LOCAL_SUFFIXES)
        self.hamlet_names = _Namer(self.rng, SURNAMES, HAMLET_SUFFIXES)
        self.stream_names = _Namer(self.rng, SURNAMES, ["家浜", "家泾", "家港", "家沟"])
        self.big_tower_compound = False

    # -- planning ------------------------------------------------------------------------------------
    def plan(self) -> None:
        rng = self.rng
        n_urban = max(2, round(6 * self.scale))
        ny = max(1, int(math.floor(math.sqrt(n_urban))))
        nx = int(math.ceil(n_urban / ny))
        m = max(2, int(round(6 * self.scale / ny)))  # rural columns
        self.nx, self.ny, self.m = nx, ny, m

        self.frame = Frame(theta=math.radians(rng.uniform(8, 14)),
                           a1=rng.uniform(35, 55), k1=2 * math.pi / rng.uniform(3200, 4200),
                           p1=rng.uniform(0, 2 * math.pi),
                           a2=rng.uniform(25, 45), k2=2 * math.pi / rng.uniform(3500, 4500),
                           p2=rng.uniform(0, 2 * math.pi))

        def wobble(amp):
            return ((rng.uniform(0.3, 1) * amp, rng.uniform(900, 2200), rng.uniform(0, 2 * math.pi)),)

        su = rng.normal(870, 30, nx)
        sv = rng.normal(750, 25, ny)
        u_pos = np.concatenate([[0.0], np.cumsum(su)])
        v_pos = np.concatenate([[0.0], np.cumsum(sv)])
        self.U = [GridLine("ns", float(c), rng.uniform(-0.02, 0.02), wobble(12)) for c in u_pos]
        self.V = [GridLine("ew", float(c), rng.uniform(-0.015, 0.015), wobble(10)) for c in v_pos]
        self.Us = [_blend(self.U[i], self.U[i + 1], rng.uniform(0.45, 0.55), GridLine("ns", 0, 0, wobble(8)))
                   for i in range(nx)]
        self.Vs = [_blend(self.V[j], self.V[j + 1], rng.uniform(0.45, 0.55), GridLine("ew", 0, 0, wobble(8)))
                   for j in range(ny)]
        east = u_pos[-1]
        river_c = east + rng.uniform(380, 430)
        self.river = GridLine("ns", river_c, rng.uniform(-0.03, 0.03),
                              ((rng.uniform(70, 100), rng.uniform(1500, 1900), rng.uniform(0, 6.3)),
                               (rng.uniform(25, 40), rng.uniform(600, 800), rng.uniform(0, 6.3))))
        r_pos = river_c + np.cumsum(rng.normal(1000, 60, m - 1)) + 150
        self.R = [GridLine("ns", float(c), rng.uniform(-0.05, 0.05), wobble(35)) for c in r_pos]
        self.rail_index = 1 if m - 1 >= 2 else None
        # county outline in the planning frame
        self.u_min = -rng.uniform(300, 360)
        self.u_max = (r_pos[-1] if m > 1 else river_c) + rng.uniform(1000, 1100)
        self.v_min = -rng.uniform(360, 420)
        self.v_max = v_pos[-1] + rng.uniform(360, 420)
        self.uc, self.vc = 0.5 * (u_pos[0] + u_pos[-1]), 0.5 * (v_pos[0] + v_pos[-1])

    def county_polygon(self) -> shapely.Polygon:
        rng = self.rng
        corners = [(self.u_min, self.v_min), (self.u_max, self.v_min), (self.u_max, self.v_max),
                   (self.u_min, self.v_max)]
        waves = [(rng.uniform(50, 90), rng.uniform(2500, 5000), rng.uniform(0, 6.3)),
                 (rng.uniform(25, 45), rng.uniform(1200, 2000), rng.uniform(0, 6.3)),
                 (rng.uniform(10, 20), rng.uniform(500, 900), rng.uniform(0, 6.3))]
        perimeter_total = 2 * ((self.u_max - self.u_min) + (self.v_max - self.v_min))
        n_noise = int(perimeter_total / 40) + 8
        kernel = np.exp(-0.5 * (np.arange(-6, 7) / 2.5) ** 2)
        noise = np.convolve(rng.normal(0, 1, n_noise), kernel / kernel.sum(), mode="same") * 25
        pts = []
        perimeter = 0.0
        for k in range(4):
            (ua, va), (ub, vb) = corners[k], corners[(k + 1) % 4]
            length = math.hypot(ub - ua, vb - va)
            n = max(2, int(length / 40))
            nu, nv = (vb - va) / length, -(ub - ua) / length  # outward normal (counter-clockwise ring)
            for i in range(n):
                f = i / n
                s = perimeter + f * length
                off = sum(a * math.sin(2 * math.pi * s / wl + ph) for a, wl, ph in waves)
                off += float(noise[min(int(s / 40), n_noise - 1)])
                pts.append((ua + f * (ub - ua) + nu * off, va + f * (vb - va) + nv * off))
            perimeter += length
        uv = np.array(pts)
        x, y = self.frame.forward(uv[:, 0], uv[:, 1])
        poly = _largest(shapely.make_valid(shapely.Polygon(np.column_stack([x, y]))))
        # round the corners off (a morphological opening), then thin the vertices out
        return _largest(poly.buffer(-120, quad_segs=6).buffer(120, quad_segs=6).simplify(0.5))

    def _add_line(self, line: GridLine, t0: float, t1: float, name, cls, kind="road") -> None:
        uv = line.uv(t0, t1)
        x, y = self.frame.forward(uv[:, 0], uv[:, 1])
        self.lines.append(RoadLine(name, cls, kind, shapely.LineString(np.column_stack([x, y]))))

    def build_lines(self) -> None:
        rng = self.rng
        span_u = (self.u_min - 600, self.u_max + 600)
        span_v = (self.v_min - 600, self.v_max + 600)
        self._add_line(self.river, *span_v, "青石河", None, "river")
        # E-W arterials: urban part west of the river, "东路" continuation east of it
        for j, line in enumerate(self.V):
            name = _pick_name(EW_ARTERIALS, j, "路")
            # the two parts share their end point exactly (same parameter, same arithmetic)
            t_cross = _crossing(line, self.river, self.river.c0)
            self._add_line(line, span_u[0], t_cross, name, "arterial")
            self._add_line(line, t_cross, span_u[1], name[:-1] + "东路", "secondary")
        for i, line in enumerate(self.U):
            self._add_line(line, *span_v, _pick_name(NS_ARTERIALS, i, "路"), "arterial")
        # secondaries end just past the outermost arterials (T junctions)
        sec = 0
        for line in self.Us:
            t0 = _crossing(line, self.V[0], self.V[0].c0) - 3
            t1 = _crossing(line, self.V[-1], self.V[-1].c0) + 3
            self._add_line(line, t0, t1, _pick_name(SECONDARY_NAMES, sec, "路"), "secondary")
            sec += 1
        for line in self.Vs:
            t0 = _crossing(line, self.U[0], self.U[0].c0) - 3
            t1 = _crossing(line, self.U[-1], self.U[-1].c0) + 3
            self._add_line(line, t0, t1, _pick_name(SECONDARY_NAMES, sec, "路"), "secondary")
            sec += 1
        # local roads splitting some quadrants of the superblocks
        for i in range(self.nx):
            for j in range(self.ny):
                for qi in range(2):
                    for qj in range(2):
                        left, right = (self.U[i], self.Us[i]) if qi == 0 else (self.Us[i], self.U[i + 1])
                        low, high = (self.V[j], self.Vs[j]) if qj == 0 else (self.Vs[j], self.V[j + 1])
                        r = rng.uniform()
                        f = rng.uniform(0.4, 0.6)
                        if r < 0.4:
                            line = _blend(left, right, f)
                            t0 = _crossing(line, low, low.c0) - 3
                            t1 = _crossing(line, high, high.c0) + 3
                        elif r < 0.6:
                            line = _blend(low, high, f)
                            t0 = _crossing(line, left, left.c0) - 3
                            t1 = _crossing(line, right, right.c0) + 3
                        else:
                            continue
                        self._add_line(line, t0, t1, self.local_names.take(), "local")
        # rural north-south roads (one of them is the railway)
        for k, line in enumerate(self.R):
            if k == self.rail_index:
                self._add_line(line, *span_v, "示范城际铁路", None, "rail")
            else:
                self._add_line(line, *span_v, _pick_name(RURAL_NS, k, "路"), "secondary" if k == 0 else "local")
        # a few rural east-west local roads between the arterials, from the river to the county edge
        rl = 0
        for j in range(self.ny):
            if rng.uniform() < 0.6:
                line = _blend(self.V[j], self.V[j + 1], rng.uniform(0.42, 0.58),
                              GridLine("ew", 0, 0, ((rng.uniform(20, 45), rng.uniform(700, 1400),
                                                     rng.uniform(0, 6.3)),)))
                t0 = _crossing(line, self.river, self.river.c0) + 12  # a dead end on the east bank
                self._add_line(line, t0, span_u[1], _pick_name(RURAL_LOCAL, rl, "路"), "local")
                rl += 1

    # -- classification ------------------------------------------------------------------------------
    def classify(self, pts: np.ndarray) -> list[tuple]:
        """For points (x, y): ('urban', col, row, interior) or ('rural', col, row)."""
        u, v = self.frame.inverse(pts[:, 0], pts[:, 1])
        out = []
        for uu, vv in zip(u, v, strict=True):
            row_raw = sum(1 for line in self.V if line.side(uu, vv) > 0) - 1
            row = min(max(row_raw, 0), self.ny - 1)
            if self.river.side(uu, vv) < 0:
                col_raw = sum(1 for line in self.U if line.side(uu, vv) > 0) - 1
                col = min(max(col_raw, 0), self.nx - 1)
                interior = 0 <= col_raw < self.nx and 0 <= row_raw < self.ny
                out.append(("urban", col, row, interior))
            else:
                col = min(sum(1 for line in self.R if line.side(uu, vv) > 0), self.m - 1)
                out.append(("rural", col, row, False))
        return out

    # -- areas -----------------------------------------------------------------------------------
    def build_areas(self) -> None:
        rng = self.rng
        county = self.county_polygon()
        self.county = county
        # the lines run well past the county outline, so every crossing with it is a proper one
        noded = shapely.union_all(np.array([ln.geom for ln in self.lines] + [county.exterior]))
        faces = list(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))
        faces = [f for f in faces if f.area > 1e-6 and county.contains(f.point_on_surface())]
        faces.sort(key=lambda f: (round(-f.centroid.y, 3), round(f.centroid.x, 3)))
        reps = np.array([[p.x, p.y] for p in (f.point_on_surface() for f in faces)])
        labels = self.classify(reps)
        self.faces = list(zip(faces, labels, strict=True))

        # units: urban communities (col,row) and villages (col,row)
        def group_key(col, row):
            return (col // 3, row // 2)

        urban_units = sorted({(c, r) for _, (k, c, r, _) in self.faces if k == "urban"},
                             key=lambda cr: (-cr[1], cr[0]))
        rural_units = sorted({(c, r) for _, (k, c, r, _) in self.faces if k == "rural"},
                             key=lambda cr: (-cr[1], cr[0]))
        streets = sorted({group_key(*cr) for cr in urban_units}, key=lambda g: (-g[1], g[0]))
        towns = sorted({group_key(*cr) for cr in rural_units}, key=lambda g: (-g[1], g[0]))
        if len(streets) > 99 or len(towns) > 99:
            raise ValueError("scale too large for the township code ranges")
        self.townships = []  # (code, name, kind)
        township_of = {}
        for k, g in enumerate(streets):
            code = f"{COUNTY_CODE[:6]}{k + 1:03d}000"
            self.townships.append((code, _pick_name(STREET_NAMES, k, "街道"), "street"))
            township_of[("urban", g)] = code
        for k, g in enumerate(towns):
            code = f"{COUNTY_CODE[:6]}{101 + k:03d}000"
            self.townships.append((code, _pick_name(TOWN_NAMES, k, "镇"), "town"))
            township_of[("rural", g)] = code
        self.communities = {}  # (kind, col, row) -> dict
        seq = defaultdict(int)
        cx, cy = self.frame.forward(self.uc, self.vc)
        self.town_centre = (float(cx), float(cy))
        name_i = 0
        for cr in urban_units:
            tcode = township_of[("urban", group_key(*cr))]
            seq[tcode] += 1
            if seq[tcode] > 199:
                raise ValueError("too many communities in one street")
            code = f"{tcode[:9]}{seq[tcode]:03d}"
            self.communities[("urban",) + cr] = dict(code=code, name=_pick_name(COMMUNITY_NAMES, name_i, "社区"),
                                                     kind="urban", parent=tcode)
            name_i += 1
        # villages: the first of each town (its seat) is named after the town (青石镇 → 青石村)
        town_name = {code: name for code, name, kind in self.townships if kind == "town"}
        seats = {name.removesuffix("镇") + "村" for name in town_name.values()}
        pool = [VILLAGE_NAMES[i] for i in rng.permutation(len(VILLAGE_NAMES)) if VILLAGE_NAMES[i] not in seats]
        vi = 0
        for cr in rural_units:
            tcode = township_of[("rural", group_key(*cr))]
            seq[tcode] += 1
            code = f"{tcode[:9]}{200 + seq[tcode]:03d}"
            if seq[tcode] == 1:
                vname = town_name[tcode].removesuffix("镇") + "村"
            else:
                vname = _pick_name(pool, vi, "村")
                vi += 1
            self.communities[("rural",) + cr] = dict(code=code, name=vname, kind="rural", parent=tcode)
        self.face_comm = [self.communities[(lab[0], lab[1], lab[2])]["code"] for _, lab in self.faces]
        polys = defaultdict(list)
        for (f, _), code in zip(self.faces, self.face_comm, strict=True):
            polys[code].append(f)
        self.comm_geom = {code: shapely.union_all(np.array(fs)) for code, fs in polys.items()}
        for c in self.communities.values():
            c["geom"] = self.comm_geom[c["code"]]

    # -- sites and buildings helpers --------------------------------------------------------------------
    def new_site(self, name, kind, community, geom, walled) -> Site:
        self.site_seq += 1
        s = Site(f"S{self.site_seq:04d}", name, kind, community, geom, walled)
        self.sites.append(s)
        return s

    def _population(self, hh: int) -> int:
        if hh <= 0:
            return 0
        return max(hh, int(round(hh * self.rng.normal(HOUSEHOLD_SIZE, 0.28))))

    # -- urban blocks ----------------------------------------------------------------------------
    def road_index(self):
        roads = [ln for ln in self.lines if ln.kind == "road" and ln.cls != "lane"]
        self.road_tree = shapely.STRtree(np.array([ln.geom for ln in roads]))
        self.road_list = roads
        setbacks = np.array([ROAD_SETBACK[ln.cls] for ln in roads])
        self.road_buffers = shapely.buffer(np.array([ln.geom for ln in roads]), setbacks, quad_segs=4)

    def nearest_road(self, geom) -> RoadLine:
        idx = self.road_tree.query_nearest(geom, all_matches=False)
        return self.road_list[int(idx[0])]

    def layout_urban(self) -> None:
        tcx, tcy = self.town_centre
        # special uses per community, by distance from the centre
        urban = [(key, c) for key, c in self.communities.items() if key[0] == "urban"]
        centre_of = {}
        for (f, lab), code in zip(self.faces, self.face_comm, strict=True):
            if lab[0] == "urban" and lab[3]:
                centre_of.setdefault(code, []).append(f)
        dist = {}
        for _key, c in urban:
            core = shapely.union_all(np.array(centre_of[c["code"]]))
            p = core.centroid
            dist[c["code"]] = math.hypot(p.x - tcx, p.y - tcy)
        by_dist = sorted(dist, key=lambda code: (dist[code], code))
        maxd = max(dist.values()) or 1.0
        specials = {code: [] for code in by_dist}
        specials[by_dist[0]] += [("park", "人民公园"), ("government", "示范县人民政府")]
        extra = [[("hospital", "示范县人民医院")], [("school", "示范县实验中学")], [("market", "城中农贸市场")],
                 [("hospital", "示范县中医院")], [("market", "城东农贸市场")]]
        by_code = self.communities_by_code()
        others = by_dist[1:]
        for k, uses in enumerate(extra):
            if k < 3:  # hospital, middle school, market: always, doubling up in a small town
                specials[others[k % len(others)]] += uses
            elif k < len(others):
                specials[others[k]] += uses
        # each street office (街道办事处) in the street's community nearest the town centre
        for tcode, tname, kind in self.townships:
            if kind == "street":
                mine = [code for code in by_dist[1:] if by_code[code]["parent"] == tcode] or \
                    [code for code in by_dist if by_code[code]["parent"] == tcode]
                specials[mine[0]].append(("government", f"{tname}办事处"))
        for code in by_dist[1:]:
            specials[code].append(("school", f"{by_code[code]['name'][:-2]}小学"))
        self.old_town = set(by_dist[: max(2, len(by_dist) // 3)])

        for code in sorted(centre_of, key=lambda c: by_dist.index(c)):
            blocks = sorted(centre_of[code], key=lambda f: (-round(f.area, 1), round(f.centroid.x, 3)))
            todo = list(specials[code])
            closeness = dist[code] / maxd
            for block in blocks:
                uses = []
                if todo:
                    uses.append(todo.pop(0))
                    if uses[0][0] != "park" and todo and todo[0][0] in ("market", "government") \
                            and block.area > 110000:
                        uses.append(todo.pop(0))
                self.layout_block(block, code, uses, closeness, street_front=code in self.old_town)
            if todo:  # more special uses than blocks: cannot happen with 4+ blocks per community
                raise RuntimeError(f"could not place sites {todo} in {code}")

    def communities_by_code(self):
        return {c["code"]: c for c in self.communities.values()}

    def layout_block(self, block, code, uses, closeness, street_front) -> None:
        rng = self.rng
        c = block.centroid
        u, v = self.frame.inverse(np.array([c.x]), np.array([c.y]))
        ang = self.frame.u_angle(float(u[0]), float(v[0]))
        origin = (c.x, c.y)
        near = self.road_tree.query(block.buffer(30))
        buildable = block.difference(shapely.union_all(self.road_buffers[near]))
        buildable = _largest(buildable.buffer(-0.5))
        if buildable is None or buildable.area < 3000:
            return
        local = _to_local(buildable, origin, ang)
        x0, y0, x1, y1 = local.bounds
        # street-front old buildings along the side facing the busiest road
        if street_front and not (uses and uses[0][0] == "park"):
            best, side = -1, None
            for sname, (px, py) in {"S": ((x0 + x1) / 2, y0 - 30), "N": ((x0 + x1) / 2, y1 + 30),
                                    "W": (x0 - 30, (y0 + y1) / 2), "E": (x1 + 30, (y0 + y1) / 2)}.items():
                wx, wy = _local_to_world(px, py, origin, ang)
                rank = CLASS_RANK[self.nearest_road(shapely.Point(wx, wy)).cls]
                if rank > best:
                    best, side = rank, sname
            if best >= 2:
                self.street_front(local, side, origin, ang, code)
                depth = 14 + 10
                if side == "S":
                    y0 += depth
                elif side == "N":
                    y1 -= depth
                elif side == "W":
                    x0 += depth
                else:
                    x1 -= depth
        width, height = x1 - x0, y1 - y0
        # sites take the west (or south) part of the block
        along_x = width >= height
        length = width if along_x else height
        start = x0 if along_x else y0
        fractions = {"park": 1.0, "government": 0.5, "hospital": 0.5, "school": 0.45, "market": 0.3}
        for kind, name in uses:
            f = fractions[kind]
            if kind == "school" and "中学" in name:
                f = 0.6
            end = start + f * length if f < 1 else start + length
            rect = shapely.box(start, y0, end, y1) if along_x else shapely.box(x0, start, x1, end)
            region = _largest(local.intersection(rect))
            start = end + 10
            if region is None:
                continue
            self.layout_site(region, kind, name, code, origin, ang)
        rest_len = (x1 if along_x else y1) - start
        if rest_len < 60:
            return
        # residential compounds in a grid over the rest
        n_a = max(1, int(round(rest_len / rng.uniform(150, 200))))
        across = height if along_x else width
        n_b = max(1, int(round(across / 190)))
        cuts_a = start + rest_len * np.linspace(0, 1, n_a + 1) + np.concatenate(
            [[0], rng.uniform(-15, 15, n_a - 1), [0]])
        cuts_b_base = (y0, y1) if along_x else (x0, x1)
        cuts_b = np.linspace(cuts_b_base[0], cuts_b_base[1], n_b + 1)
        for a in range(n_a):
            for b in range(n_b):
                a0, a1 = cuts_a[a] + (5 if a > 0 else 0), cuts_a[a + 1] - (5 if a < n_a - 1 else 0)
                b0, b1 = cuts_b[b] + (5 if b > 0 else 0), cuts_b[b + 1] - (5 if b < n_b - 1 else 0)
                rect = shapely.box(a0, b0, a1, b1) if along_x else shapely.box(b0, a0, b1, a1)
                region = _largest(local.intersection(rect))
                if region is None or region.area < 4000:
                    continue
                r = rng.uniform()
                p_high = 0.03 + 0.16 * closeness
                p_old = 0.3 * (1 - closeness)
                kind = "high" if r < p_high else ("old" if r < p_high + p_old else "walkup")
                self.layout_compound(region, kind, code, origin, ang)

    def street_front(self, local, side, origin, ang, code) -> None:
        """Old 2-4 storey buildings (shops below, flats above) in a row along one side of a block."""
        rng = self.rng
        x0, y0, x1, y1 = local.bounds
        horizontal = side in ("S", "N")
        a0, a1 = (x0, x1) if horizontal else (y0, y1)
        pos = a0 + rng.uniform(2, 8)
        while pos < a1 - 10:
            length = float(rng.uniform(14, 32))
            depth = float(rng.uniform(9, 13))
            for inset in (1.0, 4.0, 7.0, 10.0):  # as close to the road as the block edge allows
                if horizontal:
                    by0 = y0 + inset if side == "S" else y1 - inset - depth
                    box = (pos, by0, pos + length, by0 + depth)
                else:
                    bx0 = x0 + inset if side == "W" else x1 - inset - depth
                    box = (bx0, pos, bx0 + depth, pos + length)
                if local.contains(shapely.box(*box)):
                    break
            else:
                box = None
            if box is not None:
                storeys = int(rng.choice([2, 3, 3, 4]))
                hh = (storeys - 1) * int(rng.integers(1, 3))
                lx, ly = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                wx, wy = _local_to_world(lx, ly, origin, ang)
                # the entrance side (the building's local -y) faces the road
                b_ang = ang + {"S": 0.0, "N": math.pi, "E": math.pi / 2, "W": -math.pi / 2}[side]
                self.buildings.append(Building(wx, wy, b_ang, length, depth, storeys, 1, hh, code))
            pos += length + float(rng.uniform(1.5, 5))

    def _pack(self, region, specs, origin, ang, margin=5.0, row_gap=20.0, col_gap=10.0, from_top=True):
        """Place rectangles (spec: (length, depth, payload)) in rows inside ``region`` (local frame)."""
        inner = region.buffer(-margin)
        if inner.is_empty:
            return []
        x0, y0, x1, y1 = inner.bounds
        placed = []
        specs = list(specs)
        y = y1 if from_top else y0
        while specs and (y0 <= y <= y1):
            depth = max(s[1] for s in specs[:3])
            row_top = y if from_top else y + depth
            row_bottom = row_top - depth
            if row_bottom < y0 or row_top > y1:
                break
            x = x0
            placed_in_row = 0
            skipped = []
            while specs:
                length, dep, payload = specs[0]
                box = shapely.box(x, row_top - dep, x + length, row_top)
                if x + length > x1:
                    break
                if inner.contains(box):
                    specs.pop(0)
                    lx, ly = x + length / 2, row_top - dep / 2
                    wx, wy = _local_to_world(lx, ly, origin, ang)
                    placed.append((wx, wy, ang, length, dep, payload))
                    placed_in_row += 1
                    x += length + col_gap
                else:
                    x += 6
            specs = skipped + specs
            y = row_bottom - row_gap if from_top else row_top + row_gap
        return placed

    def layout_site(self, region, kind, name, code, origin, ang) -> None:
        rng = self.rng
        geom_world = affinity.affine_transform(region, _world_matrix(origin, ang))
        site = self.new_site(name, kind, code, geom_world, walled=kind not in ("park", "market"))
        if kind == "park":  # a tea house and a management office among the lawns
            inner = region.buffer(-15)
            c = inner.point_on_surface()
            placed = []
            for dx, dy in ((-45, 30), (50, -25), (0, 0), (30, 40), (-30, -40)):
                length, depth = float(rng.uniform(12, 20)), float(rng.uniform(8, 12))
                box = shapely.box(c.x + dx - length / 2, c.y + dy - depth / 2, c.x + dx + length / 2,
                                  c.y + dy + depth / 2)
                if inner.contains(box) and not any(box.distance(b) < 10 for b in placed):
                    placed.append(box)
                if len(placed) == 2:
                    break
            placed = [(*_local_to_world(b.centroid.x, b.centroid.y, origin, ang), ang,
                       b.bounds[2] - b.bounds[0], b.bounds[3] - b.bounds[1], (1, 1)) for b in placed]
        elif kind == "government":
            big = "人民政府" in name
            specs = ([(70, 20, (8, 2)), (40, 14, (5, 1)), (40, 14, (5, 1)), (30, 12, (3, 1))] if big
                     else [(50, 16, (5, 2)), (24, 12, (3, 1))])
            placed = self._pack(region, specs, origin, ang, margin=14, row_gap=30, col_gap=18)
        elif kind == "hospital":
            specs = [(60, 24, (12, 2)), (80, 30, (4, 2)), (40, 16, (6, 1)), (40, 16, (6, 1)), (24, 12, (2, 1))]
            placed = self._pack(region, specs, origin, ang, margin=10, row_gap=25, col_gap=15)
        elif kind == "school":
            n = 4 if "中学" in name else 3
            specs = [(rng.uniform(55, 70), 14, (int(rng.integers(4, 6)), 2)) for _ in range(n)] + [(30, 14, (3, 1))]
            placed = self._pack(region, specs, origin, ang, margin=10, row_gap=22, col_gap=14)
        elif kind == "market":
            specs = [(max(24.0, min(70.0, region.bounds[2] - region.bounds[0] - 30)), 36, (2, 2)),
                     (24, 12, (2, 1))]
            placed = self._pack(region, specs, origin, ang, margin=8, row_gap=15, col_gap=12)
        elif kind == "industrial_park":
            specs = [(rng.uniform(70, 130), rng.uniform(30, 55), (int(rng.integers(1, 4)), 1)) for _ in range(8)]
            specs.append((40, 16, (4, 1)))
            placed = self._pack(region, specs, origin, ang, margin=12, row_gap=25, col_gap=20)
        else:
            raise ValueError(kind)
        n = 0
        for wx, wy, a, ln, dp, (storeys, units) in placed:
            n += 1
            b = Building(wx, wy, a, ln, dp, storeys, units, 0, code, compound=site.sid, site=kind,
                         name=f"{n}幢")
            site.buildings.append(b)
            self.buildings.append(b)

    def layout_compound(self, region, kind, code, origin, ang) -> None:
        rng = self.rng
        if kind == "old":
            name = OLD_COMPOUNDS[int(rng.integers(len(OLD_COMPOUNDS)))]
            used = {s.name for s in self.sites}
            if name in used:
                name = self.compound_names.take()
        else:
            name = self.compound_names.take()
        geom_world = affinity.affine_transform(region, _world_matrix(origin, ang))
        site = self.new_site(name, "residential_compound", code, geom_world, walled=True)
        specs = []
        if kind == "walkup" or kind == "old":
            unit_w = 13.0 if kind == "walkup" else 12.0
            depth = 12.0 if kind == "walkup" else 10.0
            gap_row = rng.uniform(20, 24) if kind == "walkup" else rng.uniform(16, 19)
            for _ in range(200):
                units = int(rng.choice([2, 3, 3, 4])) if kind == "walkup" else int(rng.choice([2, 3]))
                storeys = int(rng.choice([6, 6, 6, 6, 5, 7])) if kind == "walkup" else 5
                per_floor = 2 if rng.uniform() < 0.9 else 3
                specs.append((units * unit_w, depth, (storeys, units, per_floor)))
            placed = self._pack(region, specs, origin, ang, margin=5, row_gap=gap_row,
                                col_gap=float(rng.uniform(8, 14)))
        else:
            big = not self.big_tower_compound
            self.big_tower_compound = True
            for _ in range(60):
                if big:
                    units, per_floor, storeys = 4, 6, 33
                else:
                    units = int(rng.choice([2, 2, 3, 4]))
                    per_floor = int(rng.choice([2, 4, 4, 6]) if units > 2 else rng.choice([2, 3, 4]))
                    storeys = int(rng.choice([18, 18, 24, 26, 28, 30, 32, 33]))
                unit_w = 14.0 + 2 * per_floor
                specs.append((units * unit_w, 18.0, (storeys, units, per_floor)))
            placed = self._pack(region, specs, origin, ang, margin=8, row_gap=float(rng.uniform(40, 50)),
                                col_gap=float(rng.uniform(22, 32)))
        # numbering 幢 from the south-west
        local_order = sorted(placed, key=lambda p: _sort_key_local(p, origin, ang))
        for n, (wx, wy, a, ln, dp, (storeys, units, per_floor)) in enumerate(local_order, start=1):
            hh = storeys * units * per_floor
            b = Building(wx, wy, a, ln, dp, storeys, units, hh, code, compound=site.sid, name=f"{n}幢")
            site.buildings.append(b)
            self.buildings.append(b)
        if not placed:  # an empty compound is no compound
            self.sites.remove(site)

    # -- rural -----------------------------------------------------------------------------------
    def layout_rural(self) -> None:
        rng = self.rng
        villages = [(key, c) for key, c in self.communities.items() if key[0] == "rural"]
        villages.sort(key=lambda kc: kc[1]["code"])
        n = len(villages)
        targets = rng.integers(300, 900, n)
        targets[min(1, n - 1)] = int(rng.integers(135, 146))  # one small village
        # a few bigger ones
        if n > 3:
            targets[3] = int(rng.integers(820, 900))
        lane_geoms = [ln.geom for ln in self.lines if ln.kind in ("road", "river", "rail")]
        self.all_lines = np.array(lane_geoms)
        self.all_lines_tree = shapely.STRtree(self.all_lines)
        water_rail = np.array([ln.geom for ln in self.lines if ln.kind in ("river", "rail")])
        self.water_rail = shapely.union_all(water_rail)
        reserved = defaultdict(list)  # village index -> rectangles of the sites placed in it

        def place(kind, name, sizes, candidates):
            for i in candidates:
                for size in sizes:
                    c = villages[i][1]
                    rect = self.place_rural_site(c["geom"], c, kind, name, size, reserved[i])
                    if rect is not None:
                        reserved[i].append(rect)
                        return
            raise RuntimeError(f"no room for {name}")

        # per town: the government and the central primary school in its first village (the seat),
        # an industrial park in its largest village
        for tcode, tname, kind in self.townships:
            if kind != "town":
                continue
            mine = [i for i in range(n) if villages[i][1]["parent"] == tcode]
            place("government", f"{tname}人民政府", [(130, 95), (110, 80)], mine)
            place("school", f"{tname}中心小学", [(190, 140), (160, 120)], mine)
            by_area = sorted(mine, key=lambda i: -villages[i][1]["geom"].area)
            place("industrial_park", f"{tname[:-1]}工业园", [(420, 300), (360, 260), (300, 220)], by_area)
        for i, (_key, c) in enumerate(villages):
            self.layout_village(c["geom"], c["code"], c["name"], int(targets[i]), reserved[i])
        # urban villages (城中村) in the fringe of the town's communities
        for key, c in sorted(self.communities.items(), key=lambda kc: kc[1]["code"]):
            if key[0] != "urban":
                continue
            fringe = [f for (f, lab), code in zip(self.faces, self.face_comm, strict=True)
                      if code == c["code"] and not lab[3]]
            if not fringe:
                continue
            territory = shapely.union_all(np.array(fringe))
            if territory.area > 150_000:
                self.layout_village(territory, c["code"], None, int(rng.integers(40, 160)), [])

    def lines_near(self, geom, distance):
        """Union of the roads, river and railway within ``distance`` of ``geom``."""
        idx = self.all_lines_tree.query(geom, predicate="dwithin", distance=distance)
        return shapely.union_all(self.all_lines[np.sort(idx)])

    def township_name(self, code):
        return next(t[1] for t in self.townships if t[0] == code)

    def place_rural_site(self, territory, comm, kind, name, size, reserved):
        rng = self.rng
        c = territory.centroid
        u, v = self.frame.inverse(np.array([c.x]), np.array([c.y]))
        ang = self.frame.u_angle(float(u[0]), float(v[0]))
        ok_area = territory.buffer(-30)
        lines_here = self.lines_near(territory, 50)
        x0, y0, x1, y1 = territory.bounds
        best = None
        for _ in range(400):
            px, py = rng.uniform(x0, x1), rng.uniform(y0, y1)
            rect = _rects(px, py, size[0], size[1], ang)[0]
            if not ok_area.contains(rect):
                continue
            if shapely.dwithin(rect, lines_here, 25):
                continue
            if any(shapely.dwithin(rect, r, 60) for r in reserved):
                continue
            d = rect.distance(lines_here)
            if best is None or d < best[0]:
                best = (d, rect, (px, py))
        if best is None:
            return None
        rect, origin = best[1], best[2]
        local = _to_local(rect, origin, ang)
        self.layout_site(local, kind, name, comm["code"], origin, ang)
        return rect

    def layout_village(self, territory, code, village, target, reserved) -> None:
        """Hamlets (自然村) of houses along lanes inside ``territory``, about ``target`` households.

        ``village`` is the administrative village name used as address prefix (None in an urban
        community's fringe, where the hamlets are urban villages 城中村).
        """
        rng = self.rng
        c = territory.centroid
        u, v = self.frame.inverse(np.array([c.x]), np.array([c.y]))
        base_ang = self.frame.u_angle(float(u[0]), float(v[0]))
        inner = territory.buffer(-30)
        lines_here = self.lines_near(territory, 60)
        reserved_u = shapely.union_all(np.array(reserved)) if reserved else shapely.Polygon()
        if village is not None:
            streams = self.village_streams(territory, base_ang, lines_here, reserved_u)
            lines_here = shapely.union_all(np.array([lines_here, *streams]))
        territory_3 = territory.buffer(3)
        x0, y0, x1, y1 = territory.bounds
        hamlets = []  # (footprint, lanes, house candidates)
        planned = 0
        attempts = 0
        while planned < target * 1.45 and attempts < 1500:
            attempts += 1
            small = attempts > 600  # little room left: try smaller hamlets
            want = int(min(rng.integers(30, 90) if small else rng.integers(45, 160), target * 1.45 - planned + 30))
            houses = max(8, int(want / 1.3))
            lane_len = float(rng.uniform(70, 150) if small else rng.uniform(90, 240))
            per_lane = max(4, int(lane_len / 16) * 2)
            n_lanes = max(1, int(math.ceil(houses / per_lane)))
            lane_gap = float(rng.uniform(44, 52))
            ang = base_ang + rng.uniform(-0.12, 0.12)
            px, py = rng.uniform(x0, x1), rng.uniform(y0, y1)
            height = (n_lanes - 1) * lane_gap
            foot = _rects(px, py, lane_len + 40, height + 60, ang)[0]
            if not inner.contains(foot) or shapely.dwithin(foot, lines_here, 15) \
                    or shapely.dwithin(foot, reserved_u, 40):
                continue
            if any(shapely.dwithin(foot, h[0], 25) for h in hamlets):
                continue
            hamlets.append((foot, (px, py, ang, lane_len, n_lanes, lane_gap), self.hamlet_names.take()))
            planned += houses * 1.3
        # lanes
        lane_lines = []
        hamlet_lanes = []
        for _foot, (px, py, ang, lane_len, n_lanes, lane_gap), _name in hamlets:
            ys = [-(n_lanes - 1) * lane_gap / 2 + k * lane_gap for k in range(n_lanes)]
            starts = rng.uniform(-lane_len / 2, -lane_len / 2 + 25, n_lanes)
            ends = rng.uniform(lane_len / 2 - 25, lane_len / 2, n_lanes)
            main_x = float(rng.uniform(-lane_len * 0.2, lane_len * 0.2))
            my_lanes = []
            for k, ly in enumerate(ys):
                pts = [_local_to_world(x, ly, (px, py), ang) for x in (starts[k], ends[k])]
                my_lanes.append(shapely.LineString(pts))
            # main lane across all lanes, down to the nearest road
            top = _local_to_world(main_x, ys[-1] + 3, (px, py), ang) if n_lanes > 1 else None
            bottom = _local_to_world(main_x, ys[0] - 3, (px, py), ang)
            if top is not None:
                my_lanes.append(shapely.LineString([top, bottom]))
            # the access lane continues the main lane from its end facing the nearest road (with a
            # single lane it starts 2 m across it, so the junction is a proper crossing)
            road = self.nearest_road(shapely.Point(px, py))
            near_pt = shapely.line_interpolate_point(
                road.geom, shapely.line_locate_point(road.geom, shapely.Point(px, py)))
            north = (-math.sin(ang) * (near_pt.x - px) + math.cos(ang) * (near_pt.y - py)) > 0
            if n_lanes > 1:
                anchor = shapely.Point(top if north else bottom)
            else:
                anchor = shapely.Point(_local_to_world(main_x, ys[0] + (-2 if north else 2), (px, py), ang))
            target_pt = shapely.line_interpolate_point(road.geom, shapely.line_locate_point(road.geom, anchor))
            ax, ay = anchor.x, anchor.y
            dx, dy = target_pt.x - ax, target_pt.y - ay
            dist = math.hypot(dx, dy)
            access = None
            if 0 < dist < 450:
                ext = shapely.LineString([(ax, ay), (target_pt.x + 2 * dx / dist, target_pt.y + 2 * dy / dist)])
                if territory_3.contains(ext) and not shapely.dwithin(ext, reserved_u, 5) \
                        and not ext.intersects(self.water_rail):
                    access = ext
            if access is not None:
                my_lanes.append(access)
            hamlet_lanes.append(my_lanes)
            lane_lines.extend(my_lanes)
        lanes_u = shapely.union_all(np.array(lane_lines + [lines_here]))
        # houses along the lanes
        cand = []  # (cx, cy, ang, L, D, storeys, hh, hamlet name, order)
        for h_i, (_foot, (px, py, ang, lane_len, n_lanes, lane_gap), lname) in enumerate(hamlets):
            ys = [-(n_lanes - 1) * lane_gap / 2 + k * lane_gap for k in range(n_lanes)]
            for k, ly in enumerate(ys):
                for side in (1, -1):
                    x = -lane_len / 2 - 6 + rng.uniform(0, 8)
                    while x < lane_len / 2 + 4:
                        L = float(rng.uniform(10, 14))
                        D = float(rng.uniform(8.5, 12))
                        if rng.uniform() > 0.08:
                            off = 6.5 + D / 2 + rng.uniform(0, 2.5)
                            lcx, lcy = x + L / 2, ly + side * off
                            wx, wy = _local_to_world(lcx, lcy, (px, py), ang)
                            storeys = int(rng.choice([1, 2, 2, 3, 3]))
                            hh = 2 if rng.uniform() < 0.3 else 1
                            house_ang = ang + rng.uniform(-0.05, 0.05) + (math.pi if side < 0 else 0.0)
                            cand.append((wx, wy, house_ang, L, D, storeys, hh, lname, (h_i, k, -side, x)))
                        x += L + rng.uniform(2.5, 7)
        if not cand:
            return
        arr = np.array([[cx, cy, a, L, D] for cx, cy, a, L, D, *_ in cand])
        polys = _rects(arr[:, 0], arr[:, 1], arr[:, 3], arr[:, 4], arr[:, 2])
        ok = shapely.distance(polys, lanes_u) >= 5.5
        ok &= shapely.contains(territory.buffer(-10), polys)
        ok &= ~shapely.dwithin(polys, reserved_u, 5)
        # greedy removal of overlaps (keep earlier)
        tree = shapely.STRtree(polys)
        pairs = tree.query(shapely.buffer(polys, 1.0), predicate="intersects")
        conflict = defaultdict(list)
        for a, b in zip(*pairs, strict=True):
            if a != b:
                conflict[int(a)].append(int(b))
        keep = np.zeros(len(cand), bool)
        for k in range(len(cand)):
            if ok[k] and not any(keep[j] for j in conflict.get(k, []) if j < k):
                keep[k] = True
        idx = [k for k in range(len(cand)) if keep[k]]
        hh_of = {k: cand[k][6] for k in idx}
        # trim to the target: drop whole hamlets from the last one while the rest still reach it,
        # then take the remaining excess off random houses
        per_hamlet = defaultdict(list)
        for k in idx:
            per_hamlet[cand[k][8][0]].append(k)
        total = sum(hh_of.values())
        for h_i in sorted(per_hamlet, reverse=True):
            h_total = sum(hh_of[k] for k in per_hamlet[h_i])
            if total - h_total >= target:
                for k in per_hamlet.pop(h_i):
                    del hh_of[k]
                total -= h_total
        remaining = sorted(hh_of)
        while total > target:
            k = remaining[int(rng.integers(len(remaining)))]
            if hh_of[k] == 2 and total - target == 1:
                hh_of[k] = 1
                total -= 1
            elif len(remaining) > 1:
                total -= hh_of.pop(k)
                remaining.remove(k)
            else:
                break
        for h_i in sorted(per_hamlet):
            for g in hamlet_lanes[h_i]:
                self.lines.append(RoadLine(hamlets[h_i][2], "lane", "road", g))
        numbers = defaultdict(int)
        for k in sorted(hh_of, key=lambda k: cand[k][8]):
            cx, cy, a, L, D, storeys, _hh, lname, _order = cand[k]
            numbers[lname] += 1
            self.buildings.append(Building(cx, cy, a, L, D, storeys, 1, hh_of[k], code, road=lname,
                                           number=numbers[lname], village=village))

    def village_streams(self, territory, base_ang, lines_here, reserved_u) -> list:
        """One or two small streams (浜/泾) winding across a village's fields; the hamlets come later.

        They are the kind of line villager groups (村民小组) are bounded by, so the grid engine
        has something to follow inside a village besides the roads.
        """
        rng = self.rng
        x0, y0, x1, y1 = territory.bounds
        diag = math.hypot(x1 - x0, y1 - y0)
        wanted = 1 + int(territory.area > 1.1e6)
        along = shapely.union_all(np.array([lines_here, territory.boundary])).buffer(60)
        streams = []
        for _ in range(60):
            if len(streams) == wanted:
                break
            ang = base_ang + math.pi / 2 + rng.uniform(-0.3, 0.3)  # across the east-west roads
            px, py = rng.uniform(x0, x1), rng.uniform(y0, y1)
            if not territory.contains(shapely.Point(px, py)):
                continue
            t = np.linspace(-diag, diag, int(2 * diag / 15) + 1)
            amp, wl, ph = rng.uniform(8, 25), rng.uniform(250, 600), rng.uniform(0, 2 * math.pi)
            off = amp * np.sin(2 * math.pi * t / wl + ph)
            xs = px + t * math.cos(ang) - off * math.sin(ang)
            ys = py + t * math.sin(ang) + off * math.cos(ang)
            line = shapely.intersection(shapely.LineString(np.column_stack([xs, ys])), territory)
            parts = [g for g in shapely.get_parts(line) if g.geom_type == "LineString"]
            if not parts:
                continue
            stream = max(parts, key=lambda g: g.length)
            if stream.length < 300 or shapely.dwithin(stream, reserved_u, 30) \
                    or any(shapely.dwithin(stream, other, 250) for other in streams):
                continue
            if stream.difference(along).length < 0.55 * stream.length:
                continue  # runs along a road, the river or the village edge
            streams.append(stream)
        for stream in streams:
            self.lines.append(RoadLine(self.stream_names.take(), None, "river", stream))
        return streams

    # -- numbering -------------------------------------------------------------------------------
    def assign_numbers(self) -> None:
        """Door numbers along each named road: odd on the left, even on the right, rising with distance."""
        by_name: dict[str, shapely.LineString] = {}
        for ln in self.lines:
            if ln.kind == "road" and ln.cls != "lane" and ln.name:
                by_name.setdefault(ln.name, ln.geom)
        requests = []  # (road, dist, side, setter)
        for s in self.sites:
            road = self.nearest_road(s.geom)
            gate = shapely.shortest_line(s.geom, road.geom)
            p = shapely.Point(gate.coords[0])
            requests.append((road.name, p, s))
        for b in self.buildings:
            if b.compound is None and b.village is None:
                p = shapely.Point(b.cx, b.cy)
                road = self.nearest_road(p)
                requests.append((road.name, p, b))
        per_road = defaultdict(list)
        for name, p, obj in requests:
            line = by_name[name]
            d = float(shapely.line_locate_point(line, p))
            q = shapely.line_interpolate_point(line, d)
            q2 = shapely.line_interpolate_point(line, min(d + 1.0, line.length))
            q1 = shapely.line_interpolate_point(line, max(d - 1.0, 0.0))
            tx, ty = q2.x - q1.x, q2.y - q1.y
            cross = tx * (p.y - q.y) - ty * (p.x - q.x)
            per_road[name].append((d, 1 if cross > 0 else 0, obj))
        for name in sorted(per_road):
            used = set()
            for d, left, obj in sorted(per_road[name], key=lambda t: (t[0], t[1])):
                n = 2 * int(d // 24) + (1 if left else 2)
                while n in used:
                    n += 2
                used.add(n)
                obj.road, obj.number = name, n
        for s in self.sites:
            for b in s.buildings:
                b.road, b.number = s.road, s.number

    # -- assembling ------------------------------------------------------------------------------
    def run(self) -> dict:
        self.plan()
        self.build_lines()
        self.build_areas()
        self.road_index()
        self.layout_urban()
        self.layout_rural()
        self.upgrade_towers()
        self.assign_numbers()
        return self.assemble()

    def upgrade_towers(self) -> None:
        big = [b for b in self.buildings if b.households > 500]
        if len(big) >= 2:
            return
        towers = sorted((b for b in self.buildings if b.storeys >= 18 and b.units >= 3 and b.households <= 500),
                        key=lambda b: (-b.units, -b.households, b.cx))
        for b in towers[: 2 - len(big)]:
            b.storeys = 33
            b.households = 33 * b.units * 6
        if sum(1 for b in self.buildings if b.households > 500) < 2:
            raise RuntimeError("fewer than two towers with more than 500 households")

    def assemble(self) -> dict:
        to_ll = pyproj.Transformer.from_crs(METRIC_CRS, STORAGE_CRS, always_xy=True)
        ox, oy = pyproj.Transformer.from_crs(STORAGE_CRS, METRIC_CRS, always_xy=True).transform(*ORIGIN_LONLAT)

        def to_storage(geoms):
            arr = np.asarray(geoms, dtype=object)

            def fn(c):
                lon, lat = to_ll.transform(c[:, 0] + ox, c[:, 1] + oy)
                return np.column_stack([lon, lat])

            return shapely.transform(arr, fn)

        # ---- areas
        rows = [dict(code=COUNTY_CODE, name=COUNTY_NAME, level="county", parent_code=None, kind=None)]
        geoms = []
        comm_by_parent = defaultdict(list)
        for c in self.communities.values():
            comm_by_parent[c["parent"]].append(c)
        town_geoms = {}
        for code, _name, _kind in self.townships:
            town_geoms[code] = shapely.union_all(np.array([c["geom"] for c in comm_by_parent[code]]))
        county_geom = shapely.union_all(np.array(list(town_geoms.values())))
        geoms.append(county_geom)
        for code, name, kind in self.townships:
            rows.append(dict(code=code, name=name, level="township", parent_code=COUNTY_CODE, kind=kind))
            geoms.append(town_geoms[code])
        for c in sorted(self.communities.values(), key=lambda c: c["code"]):
            rows.append(dict(code=c["code"], name=c["name"], level="community", parent_code=c["parent"],
                             kind=c["kind"]))
            geoms.append(c["geom"])
        areas = gpd.GeoDataFrame(rows, geometry=to_storage(geoms), crs=STORAGE_CRS)

        # ---- barriers: roads noded at every intersection (and at river crossings), dangles removed
        barriers = self.barrier_frame()
        barriers = gpd.GeoDataFrame(barriers.drop(columns="geometry"),
                                    geometry=to_storage(barriers.geometry.values), crs=STORAGE_CRS)

        # ---- buildings (ids in community order, then placement order)
        order = sorted(range(len(self.buildings)), key=lambda k: (self.buildings[k].community, k))
        blds = [self.buildings[k] for k in order]
        polys = _rects([b.cx for b in blds], [b.cy for b in blds], [b.length for b in blds],
                       [b.depth for b in blds], [b.ang for b in blds])
        brows = []
        for k, b in enumerate(blds):
            b.bid = f"B{k + 1:06d}"
            brows.append(dict(id=b.bid, community_code=b.community, name=b.name, road=b.road, number=int(b.number),
                              storeys=int(b.storeys), units=int(b.units), households=int(b.households),
                              population=self._population(int(b.households)), compound=b.compound, site=b.site))
        buildings = gpd.GeoDataFrame(brows, geometry=to_storage(polys), crs=STORAGE_CRS)
        buildings = buildings.astype({"number": "int64", "storeys": "int64", "units": "int64",
                                      "households": "int64", "population": "int64"})

        # ---- sites
        srows = [dict(id=s.sid, name=s.name, kind=s.kind, community_code=s.community) for s in self.sites]
        sites = gpd.GeoDataFrame(srows, geometry=to_storage([s.geom for s in self.sites]), crs=STORAGE_CRS)

        # ---- addresses: one per 单元 entrance, at the front of the unit, 1.5 m inside the wall
        arows = []
        pts = []
        for b in blds:
            units = max(1, b.units)
            base, extra = divmod(b.households, units)
            residential = b.households > 0 and b.site is None
            n_addr = units if residential else 1
            for k in range(n_addr):
                hh = base + (1 if k < extra else 0) if residential else b.households
                lx = -b.length / 2 + (k + 0.5) * b.length / n_addr
                ly = -b.depth / 2 + 1.5
                pts.append(_local_to_world(lx, ly, (b.cx, b.cy), b.ang))
                unit = f"{k + 1}单元" if residential and units > 1 else ""
                building = b.name or ""
                text = f"{b.village or ''}{b.road}{b.number}号{building}{unit}"
                arows.append(dict(address=text, city=CITY_NAME, district=COUNTY_NAME, road=b.road,
                                  number=int(b.number), building=building, unit=unit, building_id=b.bid,
                                  households=int(hh)))
        pts_arr = np.array(pts)
        lonlat = shapely.get_coordinates(to_storage(shapely.points(pts_arr)))
        addresses = pd.DataFrame(arows)
        addresses.insert(0, "id", [f"A{k + 1:07d}" for k in range(len(addresses))])
        addresses["lon"] = np.round(lonlat[:, 0], 8)
        addresses["lat"] = np.round(lonlat[:, 1], 8)
        addresses = addresses[ADDRESS_COLUMNS]
        return {"areas": areas, "barriers": barriers, "buildings": buildings, "sites": sites,
                "addresses": addresses}

    def barrier_frame(self) -> gpd.GeoDataFrame:
        county = self.county
        src = []
        for ln in self.lines:
            g = shapely.intersection(ln.geom, county)
            for part in shapely.get_parts(g):
                if part.geom_type == "LineString" and part.length > 0:
                    src.append(RoadLine(ln.name, ln.cls, ln.kind, part))
        roads = [s for s in src if s.kind == "road"]
        river = [s for s in src if s.kind == "river"]
        noded = shapely.get_parts(shapely.union_all(np.array([s.geom for s in roads])))
        tree = shapely.STRtree(np.array([s.geom for s in roads]))
        mids = shapely.line_interpolate_point(noded, 0.5, normalized=True)
        idx_in, idx_tree = tree.query_nearest(mids, max_distance=1e-3, all_matches=False)
        piece_src = np.full(len(noded), -1)
        piece_src[idx_in] = idx_tree
        pieces = [(noded[k], roads[piece_src[k]]) for k in range(len(noded)) if piece_src[k] >= 0]
        pieces = _collapse_short(pieces, 0.5)
        # drop dangles shorter than 5 m (the 2-3 m overshoots that make T junctions proper crossings)
        for _ in range(2):
            deg = defaultdict(int)
            for g, _ in pieces:
                for pt in (g.coords[0], g.coords[-1]):
                    deg[(round(pt[0], 4), round(pt[1], 4))] += 1
            keep = []
            for g, s in pieces:
                a, b = (round(g.coords[0][0], 4), round(g.coords[0][1], 4)), \
                    (round(g.coords[-1][0], 4), round(g.coords[-1][1], 4))
                if g.length < 5.0 and (deg[a] == 1 or deg[b] == 1):
                    continue
                keep.append((g, s))
            pieces = keep
        rows = []
        geoms = []
        for n, (g, s) in enumerate(pieces, start=1):
            rows.append(dict(id=f"RD{n:05d}", kind="road", **{"class": s.cls}, name=s.name))
            geoms.append(g)
        for n, s in enumerate(river + [x for x in src if x.kind == "rail"], start=1):
            prefix = "RV" if s.kind == "river" else "RL"
            rows.append(dict(id=f"{prefix}{n:05d}", kind=s.kind, **{"class": None}, name=s.name))
            geoms.append(s.geom)
        n = 0
        for s in self.sites:
            if s.walled:
                n += 1
                rows.append(dict(id=f"WL{n:05d}", kind="wall", **{"class": None}, name=s.name + "围墙"))
                geoms.append(shapely.LineString(s.geom.exterior.coords))
        return gpd.GeoDataFrame(rows, geometry=geoms)


def _node_key(pt) -> tuple[float, float]:
    return (round(pt[0], 4), round(pt[1], 4))


def _collapse_short(pieces: list, tol: float) -> list:
    """Contract pieces shorter than ``tol`` (near-coincident crossings) into one node each."""
    parent: dict = {}
    where: dict = {}

    def find(k):
        while k in parent:
            k = parent[k]
        return k

    for g, _ in pieces:
        for pt in (g.coords[0], g.coords[-1]):
            where.setdefault(_node_key(pt), pt)
    for g, _ in pieces:
        if g.length < tol:
            a, b = find(_node_key(g.coords[0])), find(_node_key(g.coords[-1]))
            if a != b:
                a, b = min(a, b), max(a, b)
                parent[b] = a
    out = []
    for g, s in pieces:
        if g.length < tol:
            continue
        coords = np.array(g.coords)
        for end in (0, -1):
            root = find(_node_key(coords[end]))
            if root != _node_key(coords[end]):
                coords[end] = where[root]
        if len(coords) == 2 and np.allclose(coords[0], coords[1]):
            continue
        out.append((shapely.LineString(coords), s))
    return out


def _world_matrix(origin, ang):
    c, s = math.cos(ang), math.sin(ang)
    return [c, -s, s, c, origin[0], origin[1]]


def _sort_key_local(p, origin, ang):
    wx, wy = p[0], p[1]
    c, s = math.cos(-ang), math.sin(-ang)
    lx = c * (wx - origin[0]) - s * (wy - origin[1])
    ly = s * (wx - origin[0]) + c * (wy - origin[1])
    return (round(ly / 10), round(lx, 3))


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------

def generate_county(seed: int = 2026, scale: float = 1.0) -> dict[str, gpd.GeoDataFrame | pd.DataFrame]:
    """Generate the demo county.

    Parameters
    ----------
    seed
        Seed of the ``numpy.random.Generator``; the same seed and scale give identical output.
    scale
        Multiplies the number of communities and villages (1 ≈ 40,000 households).

    Returns
    -------
    dict
        ``areas``, ``barriers``, ``buildings``, ``sites`` (GeoDataFrames in EPSG:4490) and
        ``addresses`` (a DataFrame with ``lon``/``lat`` in EPSG:4490).
    """
    return _County(int(seed), float(scale)).run()


def write_county(layers: dict, out_dir: str | os.PathLike) -> None:
    """Write ``demo_county.gpkg`` (areas, barriers, buildings, sites) and ``addresses.csv``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".gpkg", dir=out)
    os.close(fd)
    os.unlink(tmp)
    try:
        for name in GPKG_LAYERS:
            layers[name].to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
        os.replace(tmp, out / GPKG_NAME)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    csv_tmp = out / (CSV_NAME + ".tmp")
    layers["addresses"].to_csv(csv_tmp, index=False, encoding="utf-8", float_format="%.8f")
    os.replace(csv_tmp, out / CSV_NAME)


def summary(layers: dict) -> pd.DataFrame:
    """Households, buildings and addresses per community."""
    areas = layers["areas"]
    comm = areas[areas["level"] == "community"][["code", "name", "kind"]]
    b = layers["buildings"].groupby("community_code").agg(households=("households", "sum"),
                                                          buildings=("id", "size"))
    a = layers["addresses"].merge(layers["buildings"][["id", "community_code"]], left_on="building_id",
                                  right_on="id").groupby("community_code").size().rename("addresses")
    out = comm.set_index("code").join(b).join(a).fillna(0)
    return out.astype({"households": int, "buildings": int, "addresses": int})


# --------------------------------------------------------------------------------------------------
# Old town: one dense district with an irregular street network (benchmark input for divide-file)
# --------------------------------------------------------------------------------------------------

OLD_TOWN_CODE = "320499001900"


def generate_old_town(seed: int = 2026, buildings: int = 460, households: int = 16_000,
                      blocks: int = 150) -> dict[str, gpd.GeoDataFrame]:
    """Generate one old-town district in the ``divide-file`` layout (``area``, ``buildings``, ``barriers``).

    The street network is irregular like a real old town: the lanes are the edges of the Voronoi
    diagram of ``blocks`` jittered seeds (so blocks have 4-8 sides at every angle), with a bent
    river and two winding main streets across them. Buildings are rectangles packed along each
    block's own axis, set back from the lanes; households are skewed (many small courtyard houses,
    a few big walk-ups) and scaled to ``households`` in total, none over 480 so no building has to be
    cut into units.

    Parameters
    ----------
    seed
        Seed of the ``numpy.random.Generator``: the same arguments give identical layers.
    buildings, households
        Number of buildings and their total households.
    blocks
        Number of Voronoi seeds, roughly the number of street blocks.

    Returns
    -------
    dict
        ``area`` (one polygon, ``code``, ``kind='urban'``), ``buildings`` (``id``, ``households``,
        ``population``) and ``barriers`` (``kind`` road or river), in EPSG:4490.
    """
    rng = np.random.default_rng(seed)
    # An irregular walled-town outline, about 1.3 km by 1.0 km.
    angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    radius = 1.0 + 0.08 * np.sin(3 * angles + rng.uniform(0, 6)) + rng.normal(0, 0.02, angles.size)
    outline = shapely.Polygon(np.c_[650 * radius * np.cos(angles), 500 * radius * np.sin(angles)])
    seeds = []
    while len(seeds) < blocks:
        x, y = rng.uniform(-650, 650), rng.uniform(-500, 500)
        if outline.contains(shapely.Point(x, y)):
            seeds.append((x, y))
    cells = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=outline.buffer(200))
    lanes = shapely.intersection(shapely.boundary(shapely.get_parts(cells)), outline)
    lanes = [g for g in shapely.get_parts(shapely.line_merge(shapely.union_all(lanes))) if g.length > 1]
    river = shapely.LineString([(t, -120 + 90 * math.sin(t / 260) + 30 * math.sin(t / 70))
                                for t in range(-900, 901, 20)])
    mains = [shapely.LineString([(t * 0.35 + 40 * math.sin(t / 90), t) for t in range(-700, 701, 20)]),
             shapely.LineString([(t, 180 + 60 * math.cos(t / 200)) for t in range(-900, 901, 20)])]
    river, mains = river.intersection(outline), [m.intersection(outline) for m in mains]
    street_lines = [*lanes, *mains]
    setback = shapely.union_all([shapely.buffer(shapely.union_all(lanes), 4.0),
                                 *(shapely.buffer(m, 9.0) for m in mains), shapely.buffer(river, 14.0),
                                 shapely.buffer(outline.exterior, 6.0)])
    land = [b for b in shapely.get_parts(shapely.difference(outline, setback)) if b.area > 400]
    footprints = _old_town_footprints(rng, land, buildings)
    hh = rng.lognormal(0.0, 0.9, len(footprints)) * np.array([f.area for f in footprints]) ** 0.5
    hh = np.clip(np.round(hh / hh.sum() * households), 2, 480).astype(int)
    hh[np.argsort(-hh)[: abs(households - hh.sum())]] += np.sign(households - hh.sum())
    local = pyproj.CRS.from_proj4(f"+proj=tmerc +lat_0={ORIGIN_LONLAT[1]} +lon_0={ORIGIN_LONLAT[0]} +k=1 "
                                  "+x_0=0 +y_0=0 +ellps=GRS80 +units=m +no_defs")

    def frame(data: dict, geoms: list) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(data, geometry=geoms, crs=local).to_crs(STORAGE_CRS)

    return {
        "area": frame({"code": [OLD_TOWN_CODE], "kind": ["urban"], "name": ["老城社区"]}, [outline]),
        "buildings": frame({"id": [f"OT{i:04d}" for i in range(len(footprints))], "households": hh,
                            "population": np.round(hh * HOUSEHOLD_SIZE).astype(int)}, footprints),
        "barriers": frame({"kind": ["road"] * len(street_lines) + ["river"]}, [*street_lines, river]),
    }


def _old_town_footprints(rng: np.random.Generator, land: list, count: int) -> list:
    """``count`` rectangles packed in the blocks of ``land``, each aligned with its block's long side."""
    candidates = []
    for block in land:
        rect = shapely.minimum_rotated_rectangle(block)
        xy = np.asarray(rect.exterior.coords)[:4]
        sides = np.diff(np.vstack([xy, xy[:1]]), axis=0)
        ang = math.atan2(*sides[np.argmax(np.hypot(*sides.T))][::-1])
        cx, cy = block.centroid.x, block.centroid.y
        span = math.hypot(*sides[0]) + math.hypot(*sides[1])
        for u in np.arange(-span, span, 26.0):
            for v in np.arange(-span, span, 20.0):
                length, depth = rng.uniform(12, 22), rng.uniform(9, 15)
                x = cx + u * math.cos(ang) - v * math.sin(ang)
                y = cy + u * math.sin(ang) + v * math.cos(ang)
                box = affinity.rotate(shapely.box(x - length / 2, y - depth / 2, x + length / 2, y + depth / 2),
                                      ang, origin=(x, y), use_radians=True)
                if block.contains(box):
                    candidates.append(box)
    pick = rng.choice(len(candidates), size=min(count, len(candidates)), replace=False)
    return [candidates[i] for i in sorted(pick)]


def write_old_town(layers: dict, path: str | os.PathLike) -> None:
    """Write the old town as a ``divide-file`` input GeoPackage (layers area, buildings, barriers)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    for name in ("area", "buildings", "barriers"):
        layers[name].to_file(path, layer=name, driver="GPKG", engine="pyogrio")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "demo"))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--old-town", metavar="OUT.gpkg",
                        help="instead of the county, write one dense old-town district with an irregular street "
                             "network (about 460 buildings, 16,000 households) as a divide-file input")
    args = parser.parse_args(argv)
    if args.old_town:
        layers = generate_old_town(args.seed)
        write_old_town(layers, args.old_town)
        print(f"old town: {len(layers['buildings'])} buildings, {int(layers['buildings']['households'].sum())} "
              f"households, {len(layers['barriers'])} barriers -> {args.old_town}")
        return 0
    t0 = time.perf_counter()
    layers = generate_county(args.seed, args.scale)
    t1 = time.perf_counter()
    write_county(layers, args.out)
    t2 = time.perf_counter()
    table = summary(layers)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table.to_string())
    print(f"total: {table['households'].sum()} households, {len(layers['buildings'])} buildings, "
          f"{len(layers['addresses'])} addresses, {len(layers['sites'])} sites, "
          f"{len(layers['barriers'])} barriers")
    print(f"generated in {t1 - t0:.1f} s, written in {t2 - t1:.1f} s to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
