"""Printable division maps and the filing sheet (网格划分备案表): PDF with reportlab, PNG with matplotlib.

Drawn on the server so a county office can print or file a map without any web map tiles (offline
networks). The PDFs are A4 in Chinese: a heading on every page (which division, which page of how
many), the map drawn as vectors in the community's metric CRS with a scale bar and a north arrow,
then the grid table, whose cells wrap long names and which runs over as many pages as it needs with
its column heads repeated. Chinese needs a TrueType CJK font that reportlab can embed (WenQuanYi Micro
Hei from ``fonts-wqy-microhei``; Noto Sans CJK ships PostScript outlines, which reportlab cannot
embed): set ``WANGGE_PDF_FONT`` to another ``.ttf``/``.ttc`` file; without one the PDF is refused with
a message saying what to install, never printed as boxes.
"""

from __future__ import annotations

import io
import logging
import math
import os
from pathlib import Path

import geopandas as gpd
import shapely
from pyproj import CRS

from server.errors import ServiceUnavailable

log = logging.getLogger(__name__)

#: One colour per grid, repeating: neighbours rarely share one among twelve.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac", "#86bcb6", "#d4a6c8"]
#: TrueType CJK fonts reportlab can embed, in order of preference (path, face index in a collection).
CJK_FONT_FILES = [("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
                  ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
                  ("/usr/share/fonts/truetype/arphic/uming.ttc", 0)]
FONT = "WanggeCJK"
#: Printed names of grid types and exclusive kinds (data labels of the printout).
TYPE_ZH = {"comprehensive": "综合网格", "exclusive": "专属网格"}
SUBTYPE_ZH = {"residential_compound": "住宅小区", "school": "学校", "hospital": "医院", "government": "机关单位",
              "industrial_park": "工业园区", "market": "市场", "park": "公园", "enterprise": "企业",
              "business": "商务楼宇"}
STATUS_ZH = {"draft": "草稿", "submitted": "待审核", "approved": "已备案", "returned": "已退回"}


def _font() -> str:
    """Register the CJK font once; ServiceUnavailable naming what to install when there is none."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT in pdfmetrics.getRegisteredFontNames():
        return FONT
    chosen = os.environ.get("WANGGE_PDF_FONT")
    candidates = [(chosen, 0)] if chosen else CJK_FONT_FILES
    for path, index in candidates:
        if path and Path(path).exists():
            try:
                pdfmetrics.registerFont(TTFont(FONT, path, subfontIndex=index))
                return FONT
            except Exception as exc:  # a font reportlab cannot read (PostScript outlines): try the next one
                log.warning("cannot use %s for PDFs: %s", path, exc)
    raise ServiceUnavailable("没有可用于 PDF 的中文字体：请安装 fonts-wqy-microhei，或将 WANGGE_PDF_FONT 设为一个 "
                             "TrueType 中文字体文件 / no CJK TrueType font for PDFs: install fonts-wqy-microhei or set "
                             "WANGGE_PDF_FONT to a .ttf/.ttc file")


def _styles():
    from reportlab.lib.styles import ParagraphStyle

    font = _font()
    return {"title": ParagraphStyle("title", fontName=font, fontSize=14, leading=18, spaceAfter=4),
            "info": ParagraphStyle("info", fontName=font, fontSize=9, leading=13),
            "cell": ParagraphStyle("cell", fontName=font, fontSize=8, leading=10, wordWrap="CJK"),
            "head": ParagraphStyle("head", fontName=font, fontSize=8, leading=10, wordWrap="CJK"),
            "h2": ParagraphStyle("h2", fontName=font, fontSize=11, leading=15, spaceBefore=8, spaceAfter=4)}


def _nice_length(span_m: float) -> float:
    """A round scale-bar length (1, 2 or 5 × 10ⁿ m) about a quarter of ``span_m``."""
    target = max(span_m / 4, 1.0)
    power = 10 ** math.floor(math.log10(target))
    return max(step * power for step in (1, 2, 5) if step * power <= target)


def _map_drawing(grids: gpd.GeoDataFrame, crs: CRS, width: float, height: float):
    """The grids as vectors filling ``width`` × ``height`` points, labelled, with a scale bar and north arrow."""
    from reportlab.graphics.shapes import Drawing, Line, Polygon, Rect, String
    from reportlab.lib import colors

    font = _font()
    shown = grids.to_crs(crs)
    drawing = Drawing(width, height)
    if shown.empty:
        return drawing
    x0, y0, x1, y1 = shown.total_bounds
    margin = 24
    scale = min((width - 2 * margin) / max(x1 - x0, 1e-9), (height - 2 * margin - 20) / max(y1 - y0, 1e-9))
    ox, oy = (width - (x1 - x0) * scale) / 2, 20 + (height - 20 - (y1 - y0) * scale) / 2

    def xy(x: float, y: float) -> tuple[float, float]:
        return ox + (x - x0) * scale, oy + (y - y0) * scale

    for i, geom in enumerate(shown.geometry):
        fill = colors.HexColor(PALETTE[i % len(PALETTE)])
        for part in getattr(geom, "geoms", [geom]):
            points = [v for x, y in part.exterior.coords for v in xy(x, y)]
            drawing.add(Polygon(points, fillColor=colors.Color(fill.red, fill.green, fill.blue, alpha=0.45),
                                strokeColor=colors.HexColor("#222222"), strokeWidth=0.6))
    for (_, grid), point in zip(shown.iterrows(), shapely.point_on_surface(shown.geometry.to_numpy()), strict=True):
        x, y = xy(point.x, point.y)
        code = str(grid.get("code") or "")
        drawing.add(String(x, y + 1, code[-3:] if code else "待定", fontName=font, fontSize=7, textAnchor="middle"))
        drawing.add(String(x, y - 7, f"{int(grid['households'])} 户", fontName=font, fontSize=6, textAnchor="middle"))
    # Scale bar (metres of the metric CRS) bottom left.
    length = _nice_length(x1 - x0)
    bar = length * scale
    drawing.add(Rect(margin, 8, bar, 4, fillColor=colors.black, strokeColor=colors.black, strokeWidth=0.5))
    drawing.add(Rect(margin + bar / 2, 8, bar / 2, 4, fillColor=colors.white, strokeColor=colors.black,
                     strokeWidth=0.5))
    label = f"{length / 1000:g} 千米" if length >= 1000 else f"{length:g} 米"
    drawing.add(String(margin, 15, "0", fontName=font, fontSize=7))
    drawing.add(String(margin + bar, 15, label, fontName=font, fontSize=7, textAnchor="middle"))
    # North arrow top right: the CRS is a Gauss-Krüger zone, whose grid north is true north within a degree.
    ax, ay = width - margin, height - 40
    drawing.add(Polygon([ax, ay + 26, ax - 7, ay, ax, ay + 6, ax + 7, ay], fillColor=colors.black,
                        strokeColor=colors.black))
    drawing.add(String(ax, ay - 11, "北", fontName=font, fontSize=10, textAnchor="middle"))
    drawing.add(Line(margin, 20, margin, 20))  # keeps the drawing's bounds stable for tiny maps
    return drawing


def _grid_table(grids: gpd.GeoDataFrame, styles: dict, width: float):
    """The grid table: wrapping cells, column heads repeated on every page."""
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    heads = ["序号", "网格编码", "网格名称", "类型", "户数", "人口", "微网格"]
    rows = [[Paragraph(h, styles["head"]) for h in heads]]
    ordered = grids.sort_values("code", na_position="last") if "code" in grids.columns else grids
    for i, (_, g) in enumerate(ordered.iterrows(), start=1):
        kind = TYPE_ZH.get(str(g.get("type")), str(g.get("type") or ""))
        subtype = g.get("subtype")
        if isinstance(subtype, str) and subtype:
            kind += f"（{SUBTYPE_ZH.get(subtype, subtype)}）"
        micro = g.get("micro_grids")
        rows.append([str(i), Paragraph(str(g.get("code") or "待定"), styles["cell"]),
                     Paragraph(_escape(str(g.get("name") or "")), styles["cell"]), Paragraph(kind, styles["cell"]),
                     str(int(g["households"])), str(int(g.get("population") or 0)),
                     "" if micro is None or micro != micro else str(int(micro))])
    fractions = [0.07, 0.22, 0.31, 0.16, 0.08, 0.08, 0.08]
    table = Table(rows, colWidths=[f * width for f in fractions], repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), _font()), ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#888888")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4e7eb")), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("ALIGN", (4, 1), (-1, -1), "RIGHT")]))
    return table


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _reason_table(exemptions: list[dict], styles: dict, width: float):
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    decided = {"accepted": "已接受", "returned": "已退回", "pending": "待审核"}
    rows = [[Paragraph(h, styles["head"]) for h in ("网格编码", "户数", "区县说明", "超出户数范围的依据", "审核")]]
    for e in exemptions:
        verdict = decided.get(e.get("status"), "") + (f"（{e['accepted_by']} {e['accepted_at']}）"
                                                      if e.get("accepted_by") else "")
        rows.append([Paragraph(str(e.get("grid_code") or ""), styles["cell"]), str(e.get("households")),
                     Paragraph(_escape(e.get("reason") or ""), styles["cell"]),
                     Paragraph(_escape(e.get("proof") or ""), styles["cell"]), Paragraph(verdict, styles["cell"])])
    table = Table(rows, colWidths=[f * width for f in (0.2, 0.08, 0.28, 0.3, 0.14)], repeatRows=1)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#888888")),
                               ("FONTNAME", (0, 0), (-1, -1), _font()), ("FONTSIZE", (0, 0), (-1, -1), 8),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4e7eb")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def _document(story: list, heading: str) -> bytes:
    """Lay ``story`` out on A4 pages, each with ``heading`` on top and 第 n 页 / 共 m 页 at the foot."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas
    from reportlab.platypus import SimpleDocTemplate

    font = _font()

    class Numbered(canvas.Canvas):
        """Defers each page until the last, so every page can say how many there are."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self):  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont(font, 8)
                self.drawString(15 * mm, A4[1] - 10 * mm, heading)
                self.drawRightString(A4[0] - 15 * mm, 8 * mm, f"第 {self._pageNumber} 页 / 共 {len(self._pages)} 页")
                super().showPage()
            super().save()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=16 * mm,
                            bottomMargin=14 * mm, title=heading, author="wangge")
    doc.build(story, canvasmaker=Numbered)
    return buffer.getvalue()


def _pdf(grids: gpd.GeoDataFrame, *, title: str, lines: list[str], crs: CRS, exemptions: list[dict] | None = None,
         signature: bool = False) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import PageBreak, Paragraph, Spacer

    styles = _styles()
    width = A4[0] - 30 * mm
    story = [Paragraph(_escape(title), styles["title"]), *[Paragraph(_escape(x), styles["info"]) for x in lines],
             Spacer(1, 4 * mm), _map_drawing(grids, crs, width, 170 * mm)]
    if signature:
        blank = "审核意见：________________________　签章：____________　日期：__________"
        story += [Spacer(1, 6 * mm), Paragraph(blank, styles["info"])]
    story += [PageBreak(), Paragraph("网格一览", styles["h2"]), _grid_table(grids, styles, width)]
    if exemptions:
        story += [Paragraph("超出户数范围的网格及说明", styles["h2"]), _reason_table(exemptions, styles, width)]
    return _document(story, title)


def division_map(grids: gpd.GeoDataFrame, *, title: str, fmt: str, crs: CRS) -> bytes:
    """A map of ``grids`` (code, name, households, type, geometry) as PNG bytes, or a PDF with the grid table.

    Parameters
    ----------
    grids
        Grid polygons in any CRS; drawn in ``crs`` (the community's metric CRS) so shapes are true.
    title
        Printed above the map (and on top of every PDF page).
    fmt
        ``'png'`` or ``'pdf'``.
    crs
        Projected CRS to draw in.
    """
    if fmt == "pdf":
        lines = [f"网格 {len(grids)} 个　户数 {int(grids['households'].sum())} 户"]
        return _pdf(grids, title=title, lines=lines, crs=crs)
    return _png(grids, title=title, crs=crs)


def _png(grids: gpd.GeoDataFrame, *, title: str, crs: CRS) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    for path, _ in CJK_FONT_FILES:
        if Path(path).exists():
            font_manager.fontManager.addfont(path)
    plt.rcParams["font.sans-serif"] = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    shown = grids.to_crs(crs)
    fig, ax = plt.subplots(figsize=(10, 10), dpi=150)
    shown.plot(ax=ax, color=[PALETTE[i % len(PALETTE)] for i in range(len(shown))], edgecolor="#222222",
               linewidth=0.8, alpha=0.55)
    for (_, grid), point in zip(shown.iterrows(), shown.representative_point(), strict=True):
        code = str(grid.get("code") or "")
        ax.annotate(f"{code[-3:] if code else '待定'}\n{grid.get('name') or ''}\n{int(grid['households'])} 户",
                    (point.x, point.y), ha="center", va="center", fontsize=7)
    if not shown.empty:
        x0, y0, x1, y1 = shown.total_bounds
        length = _nice_length(x1 - x0)
        ax.plot([x0, x0 + length], [y0, y0], color="black", linewidth=3)
        ax.annotate(f"{length / 1000:g} 千米" if length >= 1000 else f"{length:g} 米", (x0 + length / 2, y0),
                    xytext=(0, 5), textcoords="offset points", ha="center", fontsize=8)
        ax.annotate("北", xy=(x1, y1), xytext=(x1, y1 - (y1 - y0) * 0.08), ha="center", fontsize=10,
                    arrowprops={"arrowstyle": "-|>", "color": "black"})
    ax.set_title(title, fontsize=11)
    ax.set_axis_off()
    ax.set_aspect("equal")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def filing_sheet(grids: gpd.GeoDataFrame, *, header: dict, crs: CRS, micro_count: int = 0,
                 exemptions: list[dict] | None = None) -> bytes:
    """The printable filing sheet (网格划分备案表) of an approved division: an A4 PDF.

    Parameters
    ----------
    grids
        Grid polygons with code, name, type, subtype, households, population and micro_grids.
    header
        community, community_code, township, version, effective_from, approver, reviewed_at: printed
        on the first page, and which division and version on top of every page, so a loose page still
        says what it belongs to.
    crs
        Projected CRS to draw in.
    micro_count
        Number of micro-grids, for the totals line.
    exemptions
        Accepted reasons for grids out of the household band (grid_code, households, reason, proof,
        status, accepted_by, accepted_at): listed after the grid table.

    Returns
    -------
    bytes
        The PDF: the map page, then the grid table over as many pages as it needs.
    """
    title = (f"网格划分备案表　{header.get('community', '')}（{header.get('community_code', '')}）"
             f"第 {header.get('version')} 版")
    lines = [f"街道/乡镇：{header.get('township') or '—'}　版本：第 {header.get('version')} 版　"
             f"生效日期：{header.get('effective_from')}",
             f"审核人：{header.get('approver') or '—'}　审核时间：{header.get('reviewed_at') or '—'}",
             f"网格 {len(grids)} 个　微网格 {micro_count} 个　户数 {int(grids['households'].sum())} 户"
             + (f"　超出户数范围并经说明的网格 {len(exemptions)} 个" if exemptions else "")]
    return _pdf(grids, title=title, lines=lines, crs=crs, exemptions=exemptions, signature=True)
