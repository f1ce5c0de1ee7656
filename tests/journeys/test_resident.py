"""A resident (居民) on a phone: finds the grid of an address, opens its notice board (公示牌), checks that
the phone numbers dial, reports a problem with a photo, and follows it by its tracking code. The lookup is
also walked on a desktop, where the county's public terminals and office staff use it.
"""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import text

pytestmark = [pytest.mark.browser, pytest.mark.db]

ADDRESS = "和平路225号"
GRID_NAME = "和平路网格"


@pytest.fixture(scope="module")
def named_grid(journey_app) -> str:
    """The filed grid of the address, named as a county would name it (the others keep no name)."""
    from server import engine_of

    with engine_of(journey_app).begin() as conn:
        code = conn.execute(text("""
            SELECT g.code FROM address a JOIN grid g ON ST_Covers(g.geom, a.geom)
            JOIN division d ON d.id = g.division_id AND d.status = 'approved'
            WHERE a.address = :address ORDER BY g.code LIMIT 1"""), {"address": ADDRESS}).scalar_one()
        conn.execute(text("UPDATE grid SET name = :name WHERE code = :code"), {"name": GRID_NAME, "code": code})
    return code


def _photo(tmp_path):
    """A phone's JPEG of the problem, with the maker and position in its EXIF (stripped on upload)."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (120, 110, 100)).save(out, format="JPEG", exif=exif)
    path = tmp_path / "楼道堆物.jpg"
    path.write_bytes(out.getvalue())
    return path


def _search(j, address: str) -> None:
    j.page.fill("#lookup-q", address)
    j.page.press("#lookup-q", "Enter")
    j.page.wait_for_function("document.body.dataset.lookup === 'found'", timeout=15_000)


def _check_tel_links(page) -> int:
    """Every tel: link dials the digits its text shows (a number, or the one of the same row)."""
    links = page.eval_on_selector_all('a[href^="tel:"]', "els => els.map(e => [e.getAttribute('href'), "
                                      "e.textContent, e.closest('li, tr, p').textContent])")
    for href, label, row in links:
        digits = href.removeprefix("tel:")
        assert re.fullmatch(r"\+?[0-9]{3,}", digits), href
        shown = label if re.search(r"[0-9]", label) else row
        assert digits in re.sub(r"[^0-9+]", "", shown), f"{href} does not dial the number shown: {shown!r}"
    return len(links)


def test_a_resident_on_a_phone(journey, named_grid, tmp_path):
    j = journey("resident", "phone")
    j.goto("/lookup")
    j.page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    j.step("lookup")

    _search(j, ADDRESS)
    card = j.page.locator("#grid-card")
    assert card.get_attribute("data-grid") == named_grid
    assert j.page.text_content("#grid-card h2").strip() == GRID_NAME
    assert ADDRESS in card.text_content()
    j.step("found")
    assert _check_tel_links(j.page) >= 2  # the demo publishes a grid chief and a full-time worker

    j.page.click("#notice-link")
    j.page.wait_for_load_state("networkidle")
    assert j.page.url.endswith(f"/notice/{named_grid}")
    assert j.page.text_content("#grid-name").strip() == GRID_NAME
    j.step("notice-board")
    assert _check_tel_links(j.page) >= 2  # staff and the supervision phone
    supervision = j.page.get_attribute("#supervision a", "href")
    assert supervision == "tel:" + re.sub(r"[^0-9]", "", j.page.text_content("#supervision b"))

    j.page.click("#menu-toggle")
    j.step("menu")
    j.page.click("#nav-report")
    j.page.wait_for_load_state("networkidle")
    j.page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    j.step("report-form")
    j.page.fill("#report-address", ADDRESS)
    j.page.select_option("#report-category", index=1)
    j.page.fill("#report-description", "楼道里堆满杂物，挡住了消防通道，请尽快清理。")
    j.page.set_input_files("#report-photos", str(_photo(tmp_path)))
    j.page.wait_for_selector("#report-previews img")
    j.step("report-filled-with-a-photo")
    j.page.click("#report-submit")
    j.page.wait_for_selector("#report-tracking", timeout=15_000)
    code = j.page.text_content("#report-code").strip()
    tracking = j.page.text_content("#report-tracking").strip()
    assert re.fullmatch(r"SJ\d{8}\d+", code), code
    assert re.fullmatch(r"[A-Z2-9]{10}", tracking), tracking
    assert j.page.get_attribute("#report-result", "data-grid") == named_grid
    assert "1 张照片" in j.page.text_content("#report-result")
    j.step("reported")

    # Later, from another page: follow the report by its tracking code.
    j.goto("/track")
    j.page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    j.page.fill("#track-code", tracking.lower())  # typed as it comes; the page reads it in capitals
    j.page.click("#track-submit")
    j.page.wait_for_selector("#track-history li", timeout=15_000)
    result = j.page.text_content("#track-result")
    assert code in result and "楼道里堆满杂物" in result
    assert j.page.locator("#track-result img").count() == 1
    assert j.page.url.endswith(f"/track/{tracking}")
    j.step("followed-by-its-code")


def test_the_lookup_on_a_desktop(journey, named_grid):
    j = journey("resident")
    j.goto("/lookup")
    j.page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    _search(j, ADDRESS)
    assert j.page.get_attribute("#grid-card", "data-grid") == named_grid
    assert j.page.locator("#menu-toggle").is_hidden() and j.page.locator("#nav-lookup").is_visible()
    j.step("found")
    # A tap on the map is a new question: the search's list gives way to its answer. (The map is centred on
    # the address found, so a tap beside the centre lands in a grid.)
    box = j.page.locator("#lookup-map").bounding_box()
    j.page.evaluate("() => { document.body.dataset.lookup = ''; }")
    j.page.mouse.click(box["x"] + box["width"] / 2 + 12, box["y"] + box["height"] / 2 + 12)
    j.page.wait_for_function("document.body.dataset.lookup !== ''", timeout=15_000)
    assert j.page.locator("#lookup-results li").count() == 0
    j.step("tapped")
