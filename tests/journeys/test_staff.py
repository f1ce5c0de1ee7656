"""Journey: a township operator keeps the grid staff roster (issue 16).

The chief of one grid leaves; the operator imports a roster (one bad row first: nothing is imported and
the row and column are named; then the fixed file), drags the new person onto the now unstaffed grid on
the map, and sees the township's coverage back at 100%. The notice board and the lookup show the new person.
"""

from __future__ import annotations

from PIL import Image, ImageDraw
from sqlalchemy import text

from server import engine_of

TOWNSHIP = "320499001"
NEW_NAME = "周晓梅"
NEW_PHONE = "13905127788"


def _target(app) -> dict:
    """A comprehensive grid of the operator's township with a chief, and an address inside it."""
    with engine_of(app).connect() as conn:
        row = conn.execute(text("""
            SELECT g.code, a.id AS assignment, s.name AS chief, ad.address,
                   ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
            FROM grid g JOIN division d ON d.id = g.division_id AND d.status = 'approved' AND d.effective_to IS NULL
            JOIN staff_assignment a ON a.grid_code = g.code AND a.role = 'grid_chief' AND a.end_date IS NULL
            JOIN staff s ON s.id = a.staff_id
            JOIN address ad ON ST_Contains(g.geom, ad.geom)
            WHERE g.code LIKE :t || '%' AND g.type = 'comprehensive'
            ORDER BY g.code, ad.id LIMIT 1"""), {"t": TOWNSHIP}).mappings().one()
    return dict(row)


def test_operator_staffs_a_grid_by_dragging_and_coverage_reaches_100(journey, journey_app, tmp_path):
    target = _target(journey_app)
    j = journey("staff", "desktop")
    j.sign_in("operator")
    j.goto("/staff")
    page = j.page
    page.wait_for_selector("body[data-ready=true]")
    assert page.inner_text("#share") == "100%"
    j.step("roster-fully-staffed")

    # The grid chief leaves: the operator ends the post, and the grid shows as not staffed.
    page.fill("#grid-filter", target["code"])
    page.select_option("#role-filter", "grid_chief")
    page.wait_for_selector(f"button[data-end='{target['assignment']}']")
    page.click(f"button[data-end='{target['assignment']}']")
    page.wait_for_selector("#unstaffed")
    assert target["code"] in page.inner_text("#unstaffed") and page.inner_text("#share") != "100%"
    j.step("chief-left")

    # A roster with one bad row (a phone of 7 digits) imports nothing and names the row and column.
    bad = tmp_path / "名册.csv"
    bad.write_text(f"姓名,手机,网格编码,角色,用工性质,职责\n"
                   f"{NEW_NAME},{NEW_PHONE},{target['code']},兼职网格员,专职,负责网格巡查走访\n"
                   f"孙建军,1381234,{target['code']},兼职网格员,志愿者,协助走访\n", encoding="utf-8-sig")
    j.expect_error("/api/v1/staff/import")
    j.expect_error("status of 400")  # the browser's console line for the refused upload names no URL
    page.fill("#grid-filter", "")
    page.select_option("#role-filter", "")
    page.click("#open-import")
    page.set_input_files("#import-file", str(bad))
    page.click("#import-save")
    page.wait_for_selector("#import-errors tr")
    errors = page.inner_text("#import-errors")
    assert "第 3 行" in errors and "手机" in errors
    j.step("import-names-the-bad-row")
    with engine_of(journey_app).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM staff WHERE phone = :p"), {"p": NEW_PHONE}).scalar_one() == 0

    good = tmp_path / "名册-已改.csv"
    good.write_text(bad.read_text(encoding="utf-8-sig").replace("1381234,", "13812345678,"), encoding="utf-8-sig")
    page.set_input_files("#import-file", str(good))
    page.click("#import-save")
    page.wait_for_selector("#import-dialog", state="hidden")
    page.fill("#q", NEW_NAME)
    page.wait_for_function("document.getElementById('count').textContent === '共 1 人'")
    page.wait_for_selector(f"#people li[data-id]:has-text('{NEW_NAME}')")
    j.step("roster-imported")

    # Her portrait: a PNG of 600×800 becomes the standard 300×400 JPEG shown on the board and the lookup.
    portrait = tmp_path / "照片.png"
    image = Image.new("RGB", (600, 800), (214, 228, 240))
    draw = ImageDraw.Draw(image)
    draw.ellipse((200, 140, 400, 360), fill=(240, 200, 170))
    draw.rectangle((140, 420, 460, 800), fill=(31, 95, 168))
    image.save(portrait)
    page.click(f"#people li[data-id]:has-text('{NEW_NAME}') button[data-edit]")
    page.wait_for_selector("#person-dialog[open]")
    page.set_input_files("#photo-file", str(portrait))
    page.fill("#person-form textarea[name=duties]", "负责解放社区第1网格的巡查走访和矛盾纠纷调处")
    j.step("edit-with-photo")
    page.click("#person-save")
    page.wait_for_selector("#person-dialog", state="hidden")
    page.wait_for_selector(f"#people li[data-id]:has-text('{NEW_NAME}') img")

    # Drag the new person onto the unstaffed grid: the dialog offers the missing role (grid chief).
    point = page.evaluate("([lat, lon]) => { const m = wangge.staffMap; m.setView([lat, lon], 17, {animate: false});"
                          " const p = m.latLngToContainerPoint([lat, lon]); return {x: p.x, y: p.y}; }",
                          [target["lat"], target["lon"]])
    page.drag_and_drop(f"#people li[data-id]:has-text('{NEW_NAME}')", "#map", target_position=point)
    page.wait_for_selector("#assign-dialog[open]")
    assert page.input_value("#assign-form input[name=code]") == target["code"]
    assert page.input_value("#assign-form select[name=role]") == "grid_chief"
    j.step("dropped-on-grid")
    page.click("#assign-save")
    page.wait_for_selector("#assign-dialog", state="hidden")
    page.wait_for_function("document.getElementById('share').textContent === '100%'")
    j.step("coverage-100")

    j.goto(f"/areas/{TOWNSHIP}000/overview")  # the overview shows the township's coverage too
    page.wait_for_selector("#coverage-share")
    assert page.inner_text("#coverage-share") == "100%"
    j.step("overview-coverage")

    j.goto(f"/notice/{target['code']}")
    board = page.inner_text("#staff")
    assert NEW_NAME in board and target["chief"] not in board
    assert page.locator(f"#staff .staff-card:has-text('{NEW_NAME}') img.staff-photo").count() == 1
    assert page.evaluate("Array.from(document.querySelectorAll('#staff img')).every(i => i.naturalWidth === 300)")
    assert page.get_attribute(f"#staff a[href='tel:{NEW_PHONE}']", "href") == f"tel:{NEW_PHONE}"
    j.step("notice-board")

    j.goto("/lookup")
    page.fill("#lookup-q", target["address"])
    page.press("#lookup-q", "Enter")
    page.wait_for_selector(f"#grid-card:has-text('{NEW_NAME}')")
    assert target["chief"] not in page.inner_text("#grid-card")  # the chief who left is gone from the lookup too
    assert page.locator("#grid-card img.staff-photo").count() >= 1
    j.step("lookup")


def test_a_resident_reads_the_notice_board_on_a_phone(journey, journey_app):
    """The board fits a 390 px phone: photos or initials, names, duties and a phone link per person."""
    with engine_of(journey_app).connect() as conn:
        code = conn.execute(text("""SELECT g.code FROM grid g JOIN division d ON d.id = g.division_id
                                    WHERE d.status = 'approved' AND d.effective_to IS NULL AND g.type = 'comprehensive'
                                    AND g.code LIKE '320499101%' ORDER BY g.code LIMIT 1""")).scalar_one()
    j = journey("staff-notice", "phone")
    j.goto(f"/notice/{code}")
    page = j.page
    page.wait_for_selector("body[data-ready=true]")
    assert "第" in page.inner_text("#grid-name") and page.locator("#staff .staff-card").count() >= 2
    assert page.locator("#staff a[href^='tel:1']").count() >= 2
    assert page.get_attribute("#supervision a", "href").startswith("tel:")
    j.step("notice-on-phone")
    page.set_viewport_size({"width": 794, "height": 1123})  # an A4 page at 96 dpi
    page.emulate_media(media="print")
    j.step("notice-printed")
