"""No 500 on bad input, bounded work per request, the database down, methods, and security headers.

Each test is a reproducer of issue 11 §1-§2 (the public endpoints first: they are open to anyone).
Read-only probes run on the shared demo app; nothing here writes to it (every probe is refused before
a write).
"""

from __future__ import annotations

import io
import re
import time

import pytest

from server import create_app, engine_of
from server.web.security import content_security_policy, json_depth


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_json()["error"]


# -- integers out of range: a 400 naming the field, never "integer out of range" from PostgreSQL -----------

@pytest.mark.parametrize(("path", "field"), [
    ("/ogc/collections/grids/items?offset=99999999999999999999", "offset"),
    ("/ogc/collections/grids/items?limit=99999999999999999999", "limit"),
    ("/api/v1/divisions/2147483648", "division_id"),
    ("/api/v1/events/999999999999", "event_id"),
    ("/api/v1/lookup/address?q=%E5%B0%8F%E5%8C%BA&limit=99999999999999999999", "limit"),
    ("/api/v1/lookup/address?q=%E5%B0%8F%E5%8C%BA&limit=%C2%B2", "limit"),  # '²' is a digit to str.isdigit
    ("/api/v1/buildings?limit=99999999999999999999", "limit"),
    ("/api/v1/buildings?limit=%C2%B2", "limit"),
])
def test_numbers_out_of_range_are_400_naming_the_field(client, path, field):
    response = client.get(path, headers={"Accept": "application/json"})
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    body = response.get_json()
    # OGC API answers in its own exception format; everything else in wangge's.
    text = str(body)
    assert field in text


def test_audit_page_out_of_range_is_400(client, editor_app, editor_tokens):
    headers = {"Authorization": f"Bearer {editor_tokens['admin']}"}
    c = editor_app.test_client()
    err = error_of(c.get("/api/v1/audit?page=99999999999999999999", headers=headers), 400)
    assert err["details"]["field"] == "page"
    assert error_of(c.get("/api/v1/audit?per_page=%C2%B2", headers=headers), 400)["details"]["field"] == "per_page"


# -- NUL bytes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "field"), [
    ("/api/v1/areas?parent=a%00b", "parent"),
    ("/api/v1/lookup/address?q=a%00b", "q"),
    ("/ogc/collections/grids/items/a%00b", "feature_id"),
    ("/notice/a%00b", "grid_code"),
    ("/api/v1/communities/a%00b/divisions", "code"),
])
def test_nul_in_the_url_is_400_naming_the_field(client, path, field):
    response = client.get(path, headers={"Accept": "application/json"})
    assert response.status_code == 400
    body = response.get_json()
    if path.startswith("/ogc/"):  # OGC API answers in its own exception format (code, description)
        assert field in body["description"] and "NUL" in body["description"]
    else:
        assert body["error"]["details"]["field"] == field


def test_nul_in_an_anonymous_json_body_is_400(client):
    err = error_of(client.post("/api/v1/public/events", json={"description": "a\u0000b", "lon": 1, "lat": 1}), 400)
    assert err["code"] == "invalid_input" and "NUL" in err["message"]
    raw = b'{"description": "a\x00b"}'
    assert error_of(client.post("/api/v1/public/events", data=raw, content_type="application/json"), 400)


def test_nul_in_a_form_field_is_400(client):
    response = client.post("/login", data={"username": "a\x00b", "password": "x"})
    assert response.status_code == 400


# -- deeply nested and oversized JSON ---------------------------------------------------------------------

def test_json_depth_ignores_brackets_in_strings():
    assert json_depth(b'{"a": [1, {"b": "[[[[{{{{"}]}') == 3
    assert json_depth(b'"\\"[[["') == 0 and json_depth(b"") == 0


@pytest.mark.parametrize("path", ["/api/v1/public/events", "/api/v1/events", "/api/v1/matters"])
def test_deeply_nested_json_is_400_not_a_recursion_error(client, editor_app, editor_tokens, path):
    headers = {"Authorization": f"Bearer {editor_tokens['admin']}"}
    c = editor_app.test_client() if path != "/api/v1/public/events" else client
    err = error_of(c.post(path, data="[" * 100_000, content_type="application/json", headers=headers), 400)
    assert err["code"] == "invalid_input" and "nested" in err["message"]
    assert err["details"]["field"] == "body"


def test_json_body_over_its_limit_is_413(demo_db_url):
    app = create_app({"DATABASE_URL": demo_db_url, "TESTING": True, "MAX_JSON_MB": 1})
    body = b'{"description": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    err = error_of(app.test_client().post("/api/v1/public/events", data=body, content_type="application/json"), 413)
    assert err["code"] == "payload_too_large" and "MAX_JSON_MB" in err["message"]
    engine_of(app).dispose()


def test_upload_over_max_upload_is_413_with_a_clear_message(demo_db_url):
    app = create_app({"DATABASE_URL": demo_db_url, "TESTING": True, "MAX_UPLOAD_MB": 1})
    data = {"file": (io.BytesIO(b"lon,lat\n" + b"120.1,31.2\n" * 200_000), "big.csv")}
    response = app.test_client().post("/api/v1/lookup/batch", data=data, content_type="multipart/form-data")
    err = error_of(response, 413)
    assert err["code"] == "payload_too_large" and "1 MB" in err["message"] and "WANGGE_MAX_UPLOAD_MB" in err["message"]
    engine_of(app).dispose()


# -- text longer than its column ----------------------------------------------------------------------

def test_text_longer_than_its_column_is_400(client):
    # An area code column holds 17 characters at most: a longer parent cannot exist, and is said so.
    err = error_of(client.get("/api/v1/areas?parent=" + "3" * 40), 400)
    assert err["details"]["field"] == "parent"


# -- the batch lookup: streamed, and capped in rows -------------------------------------------------------

def test_batch_lookup_streams_in_chunks_and_keeps_every_row(client, monkeypatch):
    import server.api.lookup as lookup_api

    monkeypatch.setattr(lookup_api, "BATCH_CHUNK_ROWS", 3)
    rows = "\n".join(f"{120 + i / 100},31.2,row{i}" for i in range(10))
    body = ("lon,lat,note\n" + rows + "\n").encode()
    response = client.post("/api/v1/lookup/batch", data={"file": (io.BytesIO(body), "p.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 200 and response.is_streamed
    text = response.get_data().decode("utf-8-sig")
    lines = text.strip().split("\n")
    assert lines[0].startswith("lon,lat,note,grid_code") and len(lines) == 11
    assert [line.split(",")[2] for line in lines[1:]] == [f"row{i}" for i in range(10)]
    assert text.count("lon,lat,note") == 1  # one header, not one per chunk


def test_batch_lookup_row_cap_is_a_setting(demo_db_url):
    app = create_app({"DATABASE_URL": demo_db_url, "TESTING": True, "PUBLIC_APPROVED_ONLY": False,
                      "LOOKUP_BATCH_MAX_ROWS": 5})
    body = b"lon,lat\n" + b"120.1,31.2\n" * 6
    response = app.test_client().post("/api/v1/lookup/batch", data={"file": (io.BytesIO(body), "p.csv")},
                                      content_type="multipart/form-data")
    err = error_of(response, 400)
    assert "at most 5 per batch" in err["message"] and "LOOKUP_BATCH_MAX_ROWS" in err["message"]
    engine_of(app).dispose()


def test_anonymous_lookups_are_limited_per_client_across_app_instances(demo_db_url):
    # Two apps on one database stand for two workers: the limit is counted in PostgreSQL, not per process.
    config = {"DATABASE_URL": demo_db_url, "TESTING": True, "PUBLIC_APPROVED_ONLY": False, "LOOKUP_LIMIT": "3/3600"}
    first, second = create_app(config), create_app(config)
    from server.web.auth import rate_limiter

    rate_limiter("lookup", first).clear()
    address = {"REMOTE_ADDR": "10.9.9.9"}
    url = "/api/v1/lookup/point?lon=120.1&lat=31.2"
    codes = []
    for app in (first, second, first, second):
        codes.append(app.test_client().get(url, environ_base=address).status_code)
        time.sleep(0.3)  # each process shares its lookup hits every 0.25 s (BATCHED_LIMITS)
    assert 429 not in codes[:3] and codes[3] == 429
    limited = second.test_client().get(url, environ_base=address)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert limited.get_json()["error"]["code"] == "too_many_requests"
    assert first.test_client().get(url, environ_base={"REMOTE_ADDR": "10.9.9.10"}).status_code != 429
    rate_limiter("lookup", first).clear()
    for app in (first, second):
        engine_of(app).dispose()


# -- the database down: 503 with Retry-After, for the API, pages and /healthz ---------------------------

@pytest.fixture
def down_app(tmp_path):
    # A socket directory with no server in it: every connection is refused, as when PostgreSQL is down.
    url = f"postgresql+psycopg://wangge@/nothing?host={tmp_path}&port=1"
    app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "d" * 64, "VAR_DIR": str(tmp_path)})
    yield app
    engine_of(app).dispose()


@pytest.mark.parametrize("path", ["/api/v1/summary", "/api/v1/areas", "/ogc/collections/grids/items",
                                  "/api/v1/lookup/point?lon=120.1&lat=31.2"])
def test_database_down_is_503_with_retry_after(down_app, path):
    response = down_app.test_client().get(path, headers={"Accept": "application/json"})
    assert response.status_code == 503, response.get_data(as_text=True)[:300]
    assert int(response.headers["Retry-After"]) > 0


def test_database_down_pages_and_healthz(down_app):
    client = down_app.test_client()
    page = client.get("/divisions")
    assert page.status_code == 503 and "Retry-After" in page.headers and "<html" in page.get_data(as_text=True)
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["status"] == "unavailable"
    assert int(health.headers["Retry-After"]) > 0
    assert client.post("/api/v1/public/events", json={"description": "x"}).status_code == 503


# -- methods -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path"), [("TRACE", "/api/v1/summary"), ("PUT", "/api/v1/summary"),
                                               ("DELETE", "/login"), ("TRACE", "/"), ("PATCH", "/lookup")])
def test_unsupported_methods_are_405_with_allow(client, method, path):
    response = client.open(path, method=method, headers={"Accept": "application/json"})
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"] or "POST" in response.headers["Allow"]


# -- anonymous writes ----------------------------------------------------------------------------------

def test_anonymous_post_without_a_session_is_401(client):
    fresh = client.application.test_client()
    err = error_of(fresh.post("/api/v1/events", json={"description": "x"}), 401)
    assert err["code"] == "unauthorized"
    assert error_of(fresh.post("/api/v1/divisions/1/submit", json={}), 401)["code"] == "unauthorized"


def test_a_session_without_its_csrf_token_is_still_403(client):
    fresh = client.application.test_client()
    fresh.get("/login")  # a session (with a CSRF token) now exists
    assert error_of(fresh.post("/api/v1/events", json={"description": "x"}), 403)["code"] == "csrf_failed"


# -- security headers ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/lookup", "/login", "/api/v1/summary", "/healthz", "/no/such/page",
                                  "/static/js/wangge.js"])
def test_security_headers_on_every_response(client, path):
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_tile_hosts_are_allowed_images_only():
    assert "https://tile.openstreetmap.org" in content_security_policy({"TILES": "osm"})
    custom = content_security_policy({"TILES": "custom", "TILE_URL": "http://gis.local:8080/{z}/{x}/{y}.png"})
    assert "img-src 'self' data: blob: http://gis.local:8080" in custom


def test_no_inline_script_or_event_handler_in_any_template():
    from server.config import PROJECT_ROOT

    inline_handler = re.compile(r"\son[a-z]+\s*=", re.I)
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
    for template in (PROJECT_ROOT / "server" / "web" / "templates").glob("*.html"):
        source = template.read_text()
        assert not inline_handler.search(source), f"{template.name} has an inline event handler"
        assert not inline_script.search(source), f"{template.name} has an inline script"
