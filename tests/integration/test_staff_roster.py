"""Grid staff (issue 16) over a filed demo county: roster, merge, assignments and their bad input, the
spreadsheet import (all or nothing), export, photos, leaving (events go to the chief), event routing,
approval of a new division, coverage, the notice board and phone masking."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import Workbook, load_workbook
from PIL import Image
from sqlalchemy import text

from server import engine_of

TOWNSHIP = "320499001000"
DEMO_DIR_NAME = ("data", "boundaries", "demo")


@pytest.fixture(scope="module")
def staff_app(databases):
    from server import create_app
    from server.config import PROJECT_ROOT
    from server.services.demo import load_demo

    url = databases.fresh("wangge_test_staff")
    for line in load_demo(url, PROJECT_ROOT.joinpath(*DEMO_DIR_NAME), file=True):
        assert "not divided" not in line, line
    app = create_app({"DATABASE_URL": url, "TILES": "none", "TESTING": True})
    yield app
    engine_of(app).dispose()


@pytest.fixture(scope="module")
def tokens(staff_app):
    from server.services.users import DEMO_USERS, create_token

    with engine_of(staff_app).begin() as conn:
        return {name: create_token(conn, name, "tests") for name, *_ in DEMO_USERS}


@pytest.fixture(scope="module")
def call(staff_app, tokens):
    client = staff_app.test_client()

    def go(method, url, *, user="operator", **kwargs):
        headers = {"Authorization": f"Bearer {tokens[user]}"} if user else {}
        return getattr(client, method)(url, headers=headers, **kwargs)
    return go


def sql(app, query, **params):
    with engine_of(app).begin() as conn:
        result = conn.execute(text(query), params)
        return result.all() if result.returns_rows else []


def grid_in(app, prefix: str = "320499001", offset: int = 0) -> str:
    """A comprehensive grid in force under ``prefix`` (320499001: the urban street, 320499101: the rural town)."""
    return sql(app, """SELECT g.code FROM grid g JOIN division d ON d.id = g.division_id
                       WHERE d.status = 'approved' AND d.effective_to IS NULL AND g.type = 'comprehensive'
                         AND g.code LIKE :p || '%' ORDER BY g.code LIMIT 1 OFFSET :o""", p=prefix, o=offset)[0][0]


def new_person(call, name="李春燕", phone="13951234567", **extra):
    r = call("post", "/api/v1/staff", json={"name": name, "phone": phone, "employment": "full_time", **extra})
    assert r.status_code == 201, r.json
    return r.json


def test_demo_roster_staffs_every_grid_with_valid_phones(call, staff_app):
    coverage = call("get", "/api/v1/staff/coverage?area=320499000000", user="editor").json
    assert coverage["grids"] > 50 and coverage["share"] == 1.0 and coverage["unstaffed"] == []
    phones = [p for (p,) in sql(staff_app, "SELECT phone FROM staff WHERE code LIKE 'S%'")]
    assert phones and all(re.fullmatch(r"1[3-9]\d{9}", p) for p in phones) and len(set(phones)) == len(phones)


def test_a_duplicate_phone_is_offered_as_a_merge_not_created_twice(call, staff_app):
    first = new_person(call, phone="139 5123 0001")
    assert first["phone"] == "13951230001" and first["township_code"] == TOWNSHIP
    again = call("post", "/api/v1/staff", json={"name": "李春燕", "phone": "13951230001", "duties": "走访"})
    assert again.status_code == 409 and again.json["error"]["details"]["merge_with"] == first["id"]
    merged = call("post", "/api/v1/staff", json={"name": "李春燕", "phone": "13951230001", "duties": "走访",
                                                 "merge": True})
    assert merged.status_code == 201 and merged.json["id"] == first["id"] and merged.json["duties"] == "走访"
    assert sql(staff_app, "SELECT count(*) FROM staff WHERE phone = '13951230001'")[0][0] == 1
    bad = call("post", "/api/v1/staff", json={"name": "赵磊", "phone": "12345"})
    assert bad.status_code == 400 and bad.json["error"]["details"]["field"] == "phone"


def test_assignments_refuse_unknown_codes_other_scopes_and_backward_dates(call, staff_app):
    person = new_person(call, phone="13951230002")
    url = f"/api/v1/staff/{person['id']}/assignments"
    code = grid_in(staff_app, offset=3)
    other = grid_in(staff_app, "320499101")
    assert call("post", url, json={"code": code[:12] + "999", "role": "part_time"}).status_code == 404
    refused = call("post", url, json={"code": other, "role": "part_time"})
    assert refused.status_code == 403 and other in refused.json["error"]["message"]
    assert call("post", url, json={"code": code, "role": "micro_chief"}).status_code == 400
    backwards = call("post", url, json={"code": code, "role": "part_time", "start_date": "2026-05-01",
                                        "end_date": "2026-04-01"})
    assert backwards.status_code == 400 and backwards.json["error"]["details"]["field"] == "end_date"
    ok = call("post", url, json={"code": code, "role": "part_time"})
    assert ok.status_code == 201
    assert call("post", url, json={"code": code, "role": "part_time"}).status_code == 409
    assert call("post", url, json={"code": other, "role": "part_time"}, user="editor").status_code == 201
    assert call("get", "/api/v1/staff", user="staff").status_code == 403
    ended = call("post", f"/api/v1/staff/assignments/{ok.json['id']}/end", json={"end_date": "2020-01-01"})
    assert ended.status_code == 400
    actions = {a for (a,) in sql(staff_app, "SELECT action FROM audit_log WHERE entity_id = :i AND action LIKE "
                                            "'staff.%'", i=str(person["id"]))}
    assert "staff.add" in actions


def _xlsx(rows):
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_spreadsheet_with_one_bad_row_imports_nothing_and_names_row_and_column(call, staff_app):
    code = grid_in(staff_app, offset=3)
    header = ["姓名", "手机", "网格编码", "角色", "用工性质", "职责"]
    rows = [header, ["钱立新", "13951230011", code, "兼职网格员", "兼职", "协助走访"],
            ["孙玉兰", "13951230012", code, "兼职网格员", "志愿者", ""],
            ["周国平", "13951230013", code[:12] + "998", "网格长", "专职", ""]]
    r = call("post", "/api/v1/staff/import", data={"file": (io.BytesIO(_xlsx(rows)), "名册.xlsx")})
    assert r.status_code == 400
    errors = r.json["error"]["details"]["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [(4, "网格编码")] and "第 4 行" in r.json["error"]["message"]
    assert sql(staff_app, "SELECT count(*) FROM staff WHERE phone LIKE '1395123001_'")[0][0] == 0
    rows[3][2] = code
    rows.append(["钱立新", "13951230011", code, "网格指导员", "兼职", ""])  # the same person's second post
    r = call("post", "/api/v1/staff/import", data={"file": (io.BytesIO(_xlsx(rows)), "名册.xlsx")})
    assert r.status_code == 200 and r.json == {"rows": 4, "people_added": 3, "assignments": 4}
    export = call("get", "/api/v1/staff/export.xlsx")
    sheet = load_workbook(io.BytesIO(export.data)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:4] == ("姓名", "手机", "用工性质", "网格编码")
    assert ("钱立新", "13951230011", "兼职", code, "网格指导员") in {v[:5] for v in values}
    csv_bad = f"姓名,手机,网格编码,角色\n吴海燕,13951230021,{code},队长\n".encode("gbk")
    r = call("post", "/api/v1/staff/import", data={"file": (io.BytesIO(csv_bad), "名册.csv")})
    assert r.status_code == 400 and r.json["error"]["details"]["errors"][0]["column"] == "角色"


def test_photos_are_resized_and_lose_their_exif(call, staff_app):
    person = new_person(call, phone="13951230031")
    image = Image.new("RGB", (1200, 900), (200, 120, 80))
    exif = Image.Exif()
    exif[0x010F] = "相机厂商"  # Make
    raw = io.BytesIO()
    image.save(raw, "JPEG", exif=exif.tobytes())
    r = call("put", f"/api/v1/staff/{person['id']}/photo", data={"photo": (io.BytesIO(raw.getvalue()), "a.jpg")})
    assert r.status_code == 200
    stored = call("get", f"/staff/photo/{person['id']}", user=None)
    saved = Image.open(io.BytesIO(stored.data))
    assert saved.size == (300, 400) and saved.format == "JPEG" and not saved.getexif()
    assert call("put", f"/api/v1/staff/{person['id']}/photo",
                data={"photo": (io.BytesIO(b"GIF89a" + b"0" * 100), "a.gif")}).status_code == 400
    big = io.BytesIO(b"\xff\xd8" + b"0" * (2 * 1024 * 1024 + 10))
    assert call("put", f"/api/v1/staff/{person['id']}/photo", data={"photo": (big, "b.jpg")}).status_code == 400


def test_leaving_ends_posts_and_hands_open_events_to_the_chief(call, staff_app):
    from server.services.events import assigned_staff

    code = grid_in(staff_app, offset=5)
    engine = engine_of(staff_app)
    with engine.connect() as conn:
        worker = assigned_staff(conn, code, date.today())
    chief = sql(staff_app, "SELECT staff_id FROM staff_assignment WHERE grid_code = :c AND role = 'grid_chief' "
                           "AND end_date IS NULL", c=code)[0][0]
    assert worker != chief
    now = datetime.now(UTC)
    event = sql(staff_app, """INSERT INTO event (code, title, description, status, source, grid_code,
                                 assigned_staff_id, reported_at)
                              VALUES ('SJTEST0001', '楼道堆物', '楼道堆放杂物', 'dispatched', 'staff', :c, :s, :t)
                              RETURNING id""", c=code, s=worker, t=now)[0][0]
    r = call("patch", f"/api/v1/staff/{worker}", json={"end_date": date.today().isoformat()})
    assert r.status_code == 200 and r.json["end_date"] == date.today().isoformat()
    assert sql(staff_app, "SELECT assigned_staff_id FROM event WHERE id = :e", e=event)[0][0] == chief
    history = sql(staff_app, "SELECT action, note FROM event_history WHERE event_id = :e", e=event)
    assert history and history[-1][0] == "reassign" and "网格长" in history[-1][1]
    lon, lat = sql(staff_app, "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM grid g "
                              "JOIN division d ON d.id = g.division_id WHERE g.code = :c AND d.status = 'approved' "
                              "AND d.effective_to IS NULL) x", c=code)[0]
    names = {s["name"] for s in call("get", f"/api/v1/lookup/point?lon={lon}&lat={lat}", user=None).json["staff"]}
    gone = sql(staff_app, "SELECT name FROM staff WHERE id = :i", i=worker)[0][0]
    assert names and gone not in names  # the lookup drops a post from its end date on
    with engine.connect() as conn:  # routing follows the assignments in force on the day
        assert assigned_staff(conn, code, date.today()) != worker
        assert assigned_staff(conn, code, date.today() - timedelta(days=1)) == worker


def test_approval_carries_kept_codes_ends_retired_ones_and_lists_new_grids(staff_app, call):
    from server.services import staff
    from server.services.editing import copy_division

    engine = engine_of(staff_app)
    community, source = sql(staff_app, """SELECT community_code, id FROM division WHERE status = 'approved'
                                          AND community_code LIKE '320499001%' ORDER BY id LIMIT 1""")[0]
    draft = copy_division(engine, community, source)
    codes = [c for (c,) in sql(staff_app, "SELECT code FROM grid WHERE division_id = :d ORDER BY code", d=draft)]
    retired, kept = codes[0], codes[1]
    fresh = community + "990"
    sql(staff_app, "UPDATE grid SET code = :n WHERE division_id = :d AND code = :o", n=fresh, d=draft, o=retired)
    on = date.today() + timedelta(days=10)
    with engine.begin() as conn:
        result = staff.on_division_approved(conn, draft, on)
    assert fresh in result["to_staff"] and result["ended"] >= 1
    ended = sql(staff_app, "SELECT end_date, ended_reason FROM staff_assignment WHERE grid_code = :c", c=retired)
    assert ended and all(e == on and "停用" in reason for e, reason in ended)
    assert all(e is None for (e,) in sql(staff_app, "SELECT end_date FROM staff_assignment WHERE grid_code = :c",
                                         c=kept))
    with engine.connect() as conn:
        findings = staff.division_findings(conn, draft, on)
    assert {f["code"] for f in findings} >= {"staffing_no_chief"}
    # The editor's live checks carry the staffing warnings (the grid with the new code has nobody yet).
    problems = call("get", f"/api/v1/divisions/{draft}", user="editor").json["checks"]["problems"]
    assert any(p["code"] == "staffing_no_chief" and p["severity"] == "warning" and fresh in p["message"]
               for p in problems)


def test_notice_board_shows_name_photo_duties_tel_links_and_masks_when_the_county_chooses(call, staff_app):
    code = grid_in(staff_app, "320499101")
    page = call("get", f"/notice/{code}", user=None).get_data(as_text=True)
    assert re.search(r'href="tel:1[3-9]\d{9}"', page) and "网格长" in page and "职责" in page
    assert f'id="grid-name">{code}<' not in page and "第" in page
    assert call("put", "/api/v1/staff/policy/320499000000", json={"mask_public_phones": True,
                                                                   "max_grids_per_person": 3},
                user="operator").status_code == 403
    assert call("put", "/api/v1/staff/policy/320499000000", json={"mask_public_phones": True,
                                                                   "max_grids_per_person": 3},
                user="editor").status_code == 200
    page = call("get", f"/notice/{code}", user=None).get_data(as_text=True)
    assert re.search(r">1[3-9]\d\*{4}\d{4}<", page)
    call("put", "/api/v1/staff/policy/320499000000", json={"mask_public_phones": False, "max_grids_per_person": 3},
         user="editor")


def test_the_staff_paths_are_in_the_openapi_document(call):
    paths = call("get", "/api/openapi.json", user=None).json["paths"]
    assert {"/api/v1/staff", "/api/v1/staff/{staff_id}", "/api/v1/staff/import", "/api/v1/staff/coverage"} <= set(paths)
