"""Printable maps of a division (PNG, and PDF with the grid table), drawn with matplotlib.

Drawn on the server so a county office can print or file a map without any web map tiles (offline
networks). Chinese labels need a CJK font: ``scripts/install-os-deps.sh`` installs WenQuanYi Micro
Hei; without one the names print as boxes but the codes and figures stay readable.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import geopandas as gpd
from pyproj import CRS

log = logging.getLogger(__name__)

CJK_FONTS = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "SimHei", "DejaVu Sans"]
#: One colour per grid, repeating: neighbours rarely share one among twelve.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac", "#86bcb6", "#d4a6c8"]


#: Where Debian and most Linux distributions put CJK fonts; matplotlib does not index .ttc files itself.
CJK_FONT_FILES = ["/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
                  "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"]


def _figure_setup():
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    known = {f.fname for f in font_manager.fontManager.ttflist}
    for path in CJK_FONT_FILES:
        if Path(path).exists() and path not in known:
            font_manager.fontManager.addfont(path)

    plt.rcParams["font.sans-serif"] = CJK_FONTS
    plt.rcParams["axes.unicode_minus"] = False
    return plt


def division_map(grids: gpd.GeoDataFrame, *, title: str, fmt: str, crs: CRS) -> bytes:
    """A map of ``grids`` (code, name, households, type, geometry) as PNG bytes, or PDF with a table page.

    Parameters
    ----------
    grids
        Grid polygons in any CRS; drawn in ``crs`` (the community's metric CRS) so shapes are true.
    title
        Printed above the map.
    fmt
        ``'png'`` or ``'pdf'``.
    crs
        Projected CRS to draw in.
    """
    plt = _figure_setup()
    from matplotlib.backends.backend_pdf import PdfPages

    shown = grids.to_crs(crs)
    fig, ax = plt.subplots(figsize=(8.27, 11.69) if fmt == "pdf" else (10, 10), dpi=150 if fmt == "png" else 100)
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(shown))]
    shown.plot(ax=ax, color=colours, edgecolor="#222222", linewidth=0.8, alpha=0.55)
    for (_, grid), point in zip(shown.iterrows(), shown.representative_point(), strict=True):
        code = grid.get("code") or "new"
        ax.annotate(f"{str(code)[-3:]}\n{grid.get('name') or ''}\n{int(grid['households'])} 户",
                    (point.x, point.y), ha="center", va="center", fontsize=7)
    ax.set_title(title, fontsize=11)
    ax.set_axis_off()
    ax.set_aspect("equal")
    buffer = io.BytesIO()
    if fmt == "png":
        fig.savefig(buffer, format="png", bbox_inches="tight")
        plt.close(fig)
        return buffer.getvalue()
    with PdfPages(buffer) as pdf:
        pdf.savefig(fig)
        plt.close(fig)
        table = plt.figure(figsize=(8.27, 11.69))
        axt = table.add_subplot(111)
        axt.set_axis_off()
        rows = [[str(g.get("code") or "—"), str(g.get("name") or ""), str(g.get("type")), str(int(g["households"]))]
                for _, g in grids.sort_values("code", na_position="last").iterrows()]
        cell = axt.table(cellText=rows[:60], colLabels=["网格编码 code", "名称 name", "类型 type", "户数 households"],
                         loc="upper center")
        cell.auto_set_font_size(False)
        cell.set_fontsize(7)
        axt.set_title(f"{title}: {len(grids)} grids, {int(grids['households'].sum())} households", fontsize=10)
        pdf.savefig(table)
        plt.close(table)
    return buffer.getvalue()


#: Grid rows per table page of the filing sheet (A4 portrait at 7 pt).
FILING_ROWS_PER_PAGE = 40


def filing_sheet(grids: gpd.GeoDataFrame, *, header: dict, crs: CRS, micro_count: int = 0) -> bytes:
    """The printable filing sheet (网格划分备案表) of an approved division: A4 PDF, map page then table pages.

    Parameters
    ----------
    grids
        Grid polygons with code, name, type, households (and population).
    header
        community, community_code, township, version, effective_from, approver, reviewed_at: printed
        on top of every page so a loose page still says what it belongs to.
    crs
        Projected CRS to draw in.
    micro_count
        Number of micro-grids, for the totals line.

    Returns
    -------
    bytes
        A PDF of ``1 + ceil(len(grids) / FILING_ROWS_PER_PAGE)`` pages.
    """
    import math

    plt = _figure_setup()
    from matplotlib.backends.backend_pdf import PdfPages

    title = (f"网格划分备案表 Grid division filing sheet — {header.get('community', '')} "
             f"({header.get('community_code', '')})")
    lines = [f"街道/乡镇 township: {header.get('township') or '—'}    版本 version: {header.get('version')}",
             f"生效日期 effective from: {header.get('effective_from')}    "
             f"审核人 approver: {header.get('approver') or '—'}    "
             f"审核时间 reviewed: {header.get('reviewed_at') or '—'}",
             f"网格 grids: {len(grids)}    微网格 micro-grids: {micro_count}    "
             f"户数 households: {int(grids['households'].sum())}"]
    ordered = grids.sort_values("code", na_position="last")
    pages = max(1, math.ceil(len(ordered) / FILING_ROWS_PER_PAGE))
    buffer = io.BytesIO()
    with PdfPages(buffer) as pdf:
        fig = plt.figure(figsize=(8.27, 11.69))
        fig.text(0.06, 0.965, title, fontsize=11, weight="bold")
        for i, line in enumerate(lines):
            fig.text(0.06, 0.94 - 0.018 * i, line, fontsize=8)
        ax = fig.add_axes((0.06, 0.08, 0.88, 0.8))
        shown = grids.to_crs(crs)
        colours = [PALETTE[i % len(PALETTE)] for i in range(len(shown))]
        shown.plot(ax=ax, color=colours, edgecolor="#222222", linewidth=0.8, alpha=0.55)
        for (_, grid), point in zip(shown.iterrows(), shown.representative_point(), strict=True):
            ax.annotate(f"{str(grid.get('code') or '')[-3:]}\n{int(grid['households'])} 户", (point.x, point.y),
                        ha="center", va="center", fontsize=6)
        ax.set_axis_off()
        ax.set_aspect("equal")
        fig.text(0.06, 0.04, "审核意见 / 签章 review opinion and seal: ______________________", fontsize=8)
        pdf.savefig(fig)
        plt.close(fig)
        for page in range(pages):
            chunk = ordered.iloc[page * FILING_ROWS_PER_PAGE:(page + 1) * FILING_ROWS_PER_PAGE]
            table = plt.figure(figsize=(8.27, 11.69))
            table.text(0.06, 0.965, f"{title} — {page + 1}/{pages}", fontsize=9, weight="bold")
            axt = table.add_axes((0.06, 0.05, 0.88, 0.88))
            axt.set_axis_off()
            rows = [[str(g.get("code") or "—"), str(g.get("name") or ""), str(g.get("type")),
                     str(int(g["households"])), str(int(g.get("population") or 0))] for _, g in chunk.iterrows()]
            if rows:
                cell = axt.table(cellText=rows, colLabels=["网格编码 code", "名称 name", "类型 type", "户数 households",
                                                           "人口 population"], loc="upper center")
                cell.auto_set_font_size(False)
                cell.set_fontsize(7)
            pdf.savefig(table)
            plt.close(table)
    return buffer.getvalue()
