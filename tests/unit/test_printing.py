"""The PDFs (filing sheet, editor export): Chinese text that wraps, every row on as many pages as needed,
a heading on every page, a map with a scale bar and a north arrow. Read back with pypdf, as a county office
would copy text out of them."""

from __future__ import annotations

import io
import re

import geopandas as gpd
import pytest
from pypdf import PdfReader
from pyproj import CRS
from shapely.geometry import box

from server.services.printing import division_map, filing_sheet

CRS_4539 = CRS.from_epsg(4539)  # CGCS2000 / 3-degree Gauss-Kruger CM 120E
LONG_NAME = "解放路与人民路交叉口东北侧老城区居民住宅小区及沿街商铺综合网格"


def grids(n: int) -> gpd.GeoDataFrame:
    rows = [{"code": f"320499001001{i + 1:03d}", "name": LONG_NAME if i == 0 else f"第{i + 1}网格",
             "type": "exclusive" if i == 1 else "comprehensive", "subtype": "school" if i == 1 else "",
             "households": 300 + i, "population": 900 + i, "micro_grids": 5,
             "geometry": box(500000 + (i % 12) * 200, 3500000 - (i // 12) * 200,
                             500200 + (i % 12) * 200, 3500200 - (i // 12) * 200)} for i in range(n)]
    return gpd.GeoDataFrame(rows, crs=CRS_4539)


def text_of(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


HEADER = {"community": "人民社区", "community_code": "320499001001", "township": "城关街道", "version": 2,
          "effective_from": "2026-12-01", "approver": "审核员", "reviewed_at": "2026-12-01 10:00"}


def test_filing_sheet_has_every_row_a_heading_on_every_page_and_no_english():
    pdf = filing_sheet(grids(130), header=HEADER, crs=CRS_4539, micro_count=650, exemptions=[
        {"grid_code": "320499001001007", "households": 197, "reason": "村庄户数少，无法分为两个网格",
         "proof": "划为 2 个网格时，其中一个须有 200-219 户", "status": "accepted", "accepted_by": "审核员",
         "accepted_at": "2026-12-01 10:00"}])
    pages = text_of(pdf)
    assert len(pages) >= 4  # the map page, then the 130-row table over several pages (it used to stop at 60)
    assert all("网格划分备案表" in p and "第 2 版" in p for p in pages)
    assert all(f"第 {i} 页 / 共 {len(pages)} 页" in p for i, p in enumerate(pages, start=1))
    whole = "".join(pages).replace("\n", "")
    assert all(f"320499001001{i:03d}" in whole for i in range(1, 131))
    assert sum(p.count("网格编码") for p in pages[1:]) >= len(pages) - 1  # column heads repeat on every page
    assert LONG_NAME in whole  # wrapped inside its cell, not cut and not over the next column
    assert "专属网格（学校）" in whole and "村庄户数少" in whole
    assert not re.search(r"[A-Za-z]{3,}", "".join(pages)), [w for w in re.findall(r"[A-Za-z]{3,}", "".join(pages))]


def test_the_map_page_has_a_scale_bar_and_a_north_arrow():
    first = text_of(filing_sheet(grids(12), header=HEADER, crs=CRS_4539))[0]
    assert "北" in first
    assert re.search(r"\b(500|1|2) ?(米|千米)", first)  # 12 grids of 200 m: 2,400 m wide, a 500 m bar


def test_long_name_wraps_within_its_column():
    import pypdf

    pdf = filing_sheet(grids(3), header=HEADER, crs=CRS_4539)
    positions = []

    def visit(text, cm, tm, font, size):
        if len(text.strip()) > 4 and text.strip() in LONG_NAME:
            positions.append((cm[4] + tm[4], cm[5] + tm[5]))

    pypdf.PdfReader(io.BytesIO(pdf)).pages[1].extract_text(visitor_text=visit)
    xs = {round(x) for x, _ in positions}
    ys = {round(y) for _, y in positions}
    assert len(ys) >= 2, "the long name takes several lines"
    assert len(xs) == 1, "every line of it starts in the name column"


def test_editor_export_pdf_is_chinese():
    pages = text_of(division_map(grids(5), title="人民社区（320499001001）第 3 版 · 草稿", fmt="pdf", crs=CRS_4539))
    assert all("第 3 版 · 草稿" in p for p in pages)
    assert not re.search(r"[A-Za-z]{3,}", "".join(pages))


def test_a_missing_font_is_a_clear_error(monkeypatch):
    from reportlab.pdfbase import pdfmetrics

    from server.errors import ServiceUnavailable
    from server.services import printing

    monkeypatch.setattr(printing, "FONT", "WanggeCJKMissing")
    monkeypatch.setenv("WANGGE_PDF_FONT", "/nonexistent/font.ttf")
    assert "WanggeCJKMissing" not in pdfmetrics.getRegisteredFontNames()
    with pytest.raises(ServiceUnavailable, match="fonts-wqy-microhei"):
        filing_sheet(grids(2), header=HEADER, crs=CRS_4539)
