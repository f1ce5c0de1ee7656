"""Users, roles, scopes and sign-in: the permission rules, sessions, CSRF, throttling, tokens, CLI and audit.

Tests that write use an app built on the scratch database (emptied per test), never the shared demo one.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from flask import jsonify
from sqlalchemy import select, text, update

from server import create_app, engine_of
from server.access import require, require_login, require_permission
from server.cli import main
from server.services.permissions import ACTIONS, can, scope_contains, scope_level, validate_scope
from server.services.users import create_token, create_user, ensure_demo_users
from server.store.audit import audit
from server.store.models import ApiToken, AuditLog, User
from server.web.auth import login_throttle

PASSWORDS = {"admin": "admin-demo-1", "reviewer": "reviewer-demo-1", "editor": "editor-demo-1",
             "operator": "operator-demo-1", "staff": "staff-demo-1"}


# -- scope_contains and scope levels (pure) ---------------------------------------------------------

@pytest.mark.parametrize(("scope", "area", "inside"), [
    ("320000000000", "320499001001", True),  # province contains a community of its city
    ("320000000000", "330100000000", False),
    ("320400000000", "320499000000", True),  # the demo county lies in city 3204
    ("320400000000", "320499001001003", True),  # and so do its grids
    ("320400000000", "320500000000", False),  # a neighbouring city
    ("320400000000", "320000000000", False),  # never the level above
    ("320499000000", "320499001001", True),
    ("320499000000", "320402001001", False),  # another county of the same city
    ("320499000000", "320400000000", False),
    ("320499001000", "320499001001", True),
    ("320499001000", "320499001000", True),  # a scope contains itself
    ("320499001000", "320499002001", False),
    ("320499001000", "320499000000", False),
    ("320499100000", "320499100201", True),  # a town (100-199) and its village
    ("320499001001", "320499001001003", True),  # community → its grids
    ("320499001001", "320499001002003", False),
    ("320499001001003", "320499001001003", True),
    ("320499001001003", "32049900100100301", True),  # grid → its micro-grids
    ("320499001001003", "320499001001004", False),
    ("320499001001003", "320499001001", False),  # a grid does not contain its community
])
def test_scope_contains(scope, area, inside):
    assert scope_contains(scope, area) is inside


@pytest.mark.parametrize(("code", "level"), [
    ("320000000000", "province"), ("320400000000", "city"), ("320499000000", "county"),
    ("320499001000", "township"), ("320499001001", "community"), ("320499001001003", "grid"),
    ("32049900100100301", "micro_grid"),
])
def test_scope_level_from_trailing_zeros(code, level):
    assert scope_level(code) == level


@pytest.mark.parametrize(("scope", "area", "named"), [
    ("3204", "320499001001", "'3204'"),  # codes are 12, 15 or 17 digits
    ("320499001001", "32049900100A", "'32049900100A'"),
    ("000000000000", "320499001001", "names no province"),
    ("320499000000", None, "None"),
])
def test_malformed_codes_are_named(scope, area, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        scope_contains(scope, area)


@pytest.mark.parametrize(("role", "scope", "error"), [
    ("admin", None, None),
    ("admin", "320499000000", "takes no scope"),
    ("reviewer", "320400000000", None),  # alias of municipal_reviewer
    ("municipal_reviewer", "320499000000", "needs the code of a city; 320499000000 is a county"),
    ("county_editor", "320499000000", None),
    ("county_editor", None, "needs a scope"),
    ("township_operator", "320499001000", None),
    ("township_operator", "320499001001", "is a community"),
    ("grid_staff", "320499001001", None),
    ("grid_staff", "320499001001003", None),
    ("grid_staff", "320499000000", "community or grid or micro_grid"),
    ("mayor", "320400000000", "unknown role 'mayor'"),
])
def test_validate_scope_names_the_level_a_role_needs(role, scope, error):
    if error is None:
        stored_role, stored_scope = validate_scope(role, scope)
        assert stored_role == ("municipal_reviewer" if role == "reviewer" else role) and stored_scope == scope
    else:
        with pytest.raises(ValueError, match=re.escape(error)):
            validate_scope(role, scope)


# -- can(): every role × action × in/out of scope ---------------------------------------------------

# (scope, an area inside it, an area outside it) per role; written out here, independent of auth.py.
SCOPES = {
    "admin": (None, "320499001001", "440305001001"),
    "municipal_reviewer": ("320400000000", "320499001001", "320500000000"),
    "county_editor": ("320499000000", "320499001001", "320402001001"),
    "township_operator": ("320499001000", "320499001001003", "320499002001"),
    "grid_staff": ("320499001001", "320499001001003", "320499001002003"),
}
ALLOWED_IN_SCOPE = {
    "admin": set(ACTIONS),
    "municipal_reviewer": {"read_approved", "read_draft", "review", "read_audit"},
    "county_editor": {"read_approved", "read_draft", "edit_draft", "submit", "manage_staff"},
    "township_operator": {"read_approved", "read_draft", "edit_draft", "manage_staff"},
    "grid_staff": {"read_approved"},
}


def _user(role: str, scope: str | None = None, active: bool = True) -> User:
    return User(id=1, username=role, role=role, scope_code=scope, active=active, password_hash="x")


@pytest.mark.parametrize("where", ["in_scope", "out_of_scope"])
@pytest.mark.parametrize("action", ["read_approved", "read_draft", "edit_draft", "submit", "review", "admin",
                                    "read_audit"])
@pytest.mark.parametrize("role", ["admin", "municipal_reviewer", "county_editor", "township_operator", "grid_staff",
                                  "anonymous"])
def test_can_truth_table(role, action, where):
    if role == "anonymous":
        assert can(None, action, "320499001001") is False
        return
    scope, inside, outside = SCOPES[role]
    area = inside if where == "in_scope" else outside
    expected = action in ALLOWED_IN_SCOPE[role] and (where == "in_scope" or role == "admin")
    assert can(_user(role, scope), action, area) is expected


@pytest.mark.parametrize("role", list(SCOPES))
def test_can_denies_inactive_users_and_area_wide_questions(role):
    scope, inside, _ = SCOPES[role]
    assert not any(can(_user(role, scope, active=False), action, inside) for action in ACTIONS)
    # None = "everywhere at once" (the whole audit log, all drafts): only admin.
    assert can(_user(role, scope), "read_draft", None) is (role == "admin")


def test_can_names_unknown_actions_and_bad_codes():
    with pytest.raises(ValueError, match="unknown action 'approve'"):
        can(_user("admin"), "approve", "320499001001")
    with pytest.raises(ValueError, match="'3204'"):
        can(_user("county_editor", "320499000000"), "edit_draft", "3204")


# -- an app on the scratch database ------------------------------------------------------------------

@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    # argon2 at production cost (64 MiB, 3 passes) for every demo user of every test would take minutes;
    # the cost parameters are argon2's business, the flow is ours.
    from argon2 import PasswordHasher

    import server.services.users

    monkeypatch.setattr(server.services.users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def auth_app(scratch_engine, scratch_db_url):
    """The real app on the (emptied) scratch database, the demo users, and three test-only views."""
    app = create_app({"DATABASE_URL": scratch_db_url, "TESTING": True, "SECRET_KEY": "t" * 64})

    @app.post("/test/write")
    def test_write():
        user = require_login()
        with engine_of(app).begin() as conn:
            audit(conn, "test_write", "thing", 7, {"n": 1}, {"n": 2})
        return jsonify(written_by=user.username)

    @app.get("/test/private")
    @require_login()
    def test_private():
        return "private page"

    @app.get("/test/area/<code>")
    @require("county_editor", lambda kw: kw["code"])
    def test_area(code):
        return jsonify(ok=code)

    @app.get("/test/review/<code>")
    def test_review(code):
        require_permission("review", code)
        return jsonify(ok=code)

    ensure_demo_users(scratch_engine)
    yield app
    engine_of(app).dispose()


@pytest.fixture
def web(auth_app):
    return auth_app.test_client()


def csrf_of(client) -> str:
    client.get("/login")
    with client.session_transaction() as session:
        return session["csrf_token"]


def login(client, username, password, next_url=None, **kwargs):
    form = {"username": username, "password": password, "csrf_token": csrf_of(client)}
    if next_url is not None:
        form["next"] = next_url
    return client.post("/login", data=form, **kwargs)


def audit_rows(engine, action=None):
    with engine.connect() as conn:
        query = select(AuditLog).order_by(AuditLog.id)
        if action:
            query = query.where(AuditLog.action == action)
        return [dict(r._mapping) for r in conn.execute(query)]


def set_active(engine, username, active):
    with engine.begin() as conn:
        conn.execute(update(User).where(User.username == username).values(active=active))


# -- the login page and sessions --------------------------------------------------------------------

def test_login_page_is_chinese_by_default_and_english_on_request(web):
    page = web.get("/login").get_data(as_text=True)
    assert "用户登录" in page and "用户名" in page and 'name="csrf_token"' in page
    assert re.search(r'<meta name="csrf-token" content="[\w-]{20,}">', page)
    english = web.get("/login?lang=en").get_data(as_text=True)
    assert "User name" in english and "Password" in english


def test_login_success_shows_the_user_and_is_audited(web, scratch_engine):
    response = login(web, "editor", PASSWORDS["editor"], next_url="/?x=1")
    assert response.status_code == 303 and response.headers["Location"] == "/?x=1"
    me = web.get("/api/v1/me").get_json()
    assert me == {"username": "editor", "display_name": "示范县网格化中心", "role": "county_editor",
                  "scope": "320499000000"}
    page = web.get("/").get_data(as_text=True)
    assert 'id="current-user"' in page and "示范县网格化中心" in page and "区县编辑" in page and "退出" in page
    row = audit_rows(scratch_engine, "login")[-1]
    assert row["actor"] == "editor" and row["entity"] == "app_user" and row["user_id"] is not None


def test_session_cookie_is_hardened_and_expires(web, auth_app):
    cookie = login(web, "staff", PASSWORDS["staff"]).headers["Set-Cookie"]
    assert cookie.startswith("wangge_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    assert "Secure" not in cookie  # plain http unless WANGGE_SECURE_COOKIES
    assert auth_app.permanent_session_lifetime.total_seconds() == 8 * 3600


def test_secure_cookies_when_configured(scratch_engine, scratch_db_url):
    ensure_demo_users(scratch_engine)
    app = create_app({"DATABASE_URL": scratch_db_url, "SECURE_COOKIES": "1", "SECRET_KEY": "s" * 64})
    client = app.test_client()
    assert "Secure" in login(client, "staff", PASSWORDS["staff"]).headers["Set-Cookie"]
    engine_of(app).dispose()


@pytest.mark.parametrize(("username", "password"), [("editor", "wrong-password"), ("nobody", "whatever-1")])
def test_wrong_password_or_unknown_user_fails_alike(web, scratch_engine, username, password):
    response = login(web, username, password)
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert web.get("/api/v1/me").status_code == 401
    row = audit_rows(scratch_engine, "login_failed")[-1]
    assert row["after"]["username"] == username and "password" not in str(row["after"]).replace("wrong_password", "")
    assert row["after"]["reason"] == ("wrong_password" if username == "editor" else "unknown_user")


def test_inactive_user_cannot_sign_in(web, scratch_engine):
    set_active(scratch_engine, "operator", False)
    response = login(web, "operator", PASSWORDS["operator"])
    assert response.status_code == 403 and "已停用" in response.get_data(as_text=True)
    assert login(web, "operator", "wrong-password").status_code == 401  # a guesser learns nothing
    assert web.get("/api/v1/me").status_code == 401


def test_disabling_or_changing_password_ends_existing_sessions(web, scratch_engine):
    login(web, "editor", PASSWORDS["editor"])
    assert web.get("/api/v1/me").status_code == 200
    set_active(scratch_engine, "editor", False)
    assert web.get("/api/v1/me").status_code == 401
    set_active(scratch_engine, "editor", True)
    login(web, "editor", PASSWORDS["editor"])
    with scratch_engine.begin() as conn:
        conn.execute(update(User).where(User.username == "editor").values(password_hash="changed"))
    assert web.get("/api/v1/me").status_code == 401


def test_next_must_stay_on_this_site(web):
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        assert login(web, "staff", PASSWORDS["staff"], next_url=evil).headers["Location"] == "/home"


def test_missing_fields_are_named(web):
    response = web.post("/login?lang=en", data={"username": "editor", "csrf_token": csrf_of(web)})
    assert response.status_code == 400 and "Enter a user name and a password" in response.get_data(as_text=True)


# -- throttling -----------------------------------------------------------------------------------

def test_five_failures_for_one_user_name_refuse_the_sixth_try_with_429(web, auth_app, scratch_engine):
    now = [1800.0]  # the start of a 15-minute window (windows are aligned to the clock, shared by all workers)
    login_throttle(auth_app).clock = lambda: now[0]
    for _ in range(5):
        assert login(web, "reviewer", "wrong-password").status_code == 401
    response = login(web, "reviewer", PASSWORDS["reviewer"])  # even the right password, while locked
    assert response.status_code == 429
    assert "登录失败次数过多" in response.get_data(as_text=True) and "15 分钟" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) == 900
    assert audit_rows(scratch_engine, "login_throttled")
    now[0] += 15 * 60  # the next window starts afresh
    assert login(web, "reviewer", PASSWORDS["reviewer"]).status_code == 303


def test_five_failures_from_one_address_refuse_other_user_names(web, auth_app):
    for name in ("a1", "a2", "a3", "a4", "a5"):
        login(web, name, "wrong-password", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    blocked = login(web, "admin", PASSWORDS["admin"], environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert blocked.status_code == 429
    english = web.post("/login?lang=en", data={"username": "admin", "password": "x", "csrf_token": csrf_of(web)},
                       environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert "Too many failed sign-ins" in english.get_data(as_text=True)
    # Another address is not affected.
    assert login(web, "admin", PASSWORDS["admin"], environ_base={"REMOTE_ADDR": "10.0.0.10"}).status_code == 303


def test_success_resets_the_user_name_count(web):
    for _ in range(4):
        login(web, "staff", "wrong-password", environ_base={"REMOTE_ADDR": "10.0.1.1"})
    assert login(web, "staff", PASSWORDS["staff"], environ_base={"REMOTE_ADDR": "10.0.1.2"}).status_code == 303
    for _ in range(4):
        assert login(web, "staff", "wrong-password", environ_base={"REMOTE_ADDR": "10.0.1.3"}).status_code == 401


# -- logout and CSRF ------------------------------------------------------------------------------

def test_logout_needs_csrf_and_ends_the_session(web, scratch_engine):
    login(web, "admin", PASSWORDS["admin"])
    refused = web.post("/logout")
    assert refused.status_code == 403 and web.get("/api/v1/me").status_code == 200
    with web.session_transaction() as session:
        token = session["csrf_token"]
    response = web.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert web.get("/api/v1/me").status_code == 401
    assert audit_rows(scratch_engine, "logout")[-1]["actor"] == "admin"
    page = web.get("/").get_data(as_text=True)
    assert 'id="login-link"' in page and 'id="current-user"' not in page


def test_login_form_without_csrf_token_is_refused(web):
    web.get("/login")
    response = web.post("/login", data={"username": "admin", "password": PASSWORDS["admin"]})
    assert response.status_code == 403 and "CSRF" in response.get_data(as_text=True)
    wrong = web.post("/login", data={"username": "admin", "password": PASSWORDS["admin"], "csrf_token": "forged"})
    assert wrong.status_code == 403


def test_cookie_json_write_needs_the_csrf_header(web, scratch_engine):
    login(web, "editor", PASSWORDS["editor"])
    json_headers = {"Accept": "application/json"}
    refused = web.post("/test/write", json={"n": 2}, headers=json_headers)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "csrf_failed"
    assert "X-CSRF-Token" in refused.get_json()["error"]["message"]
    # The token the page shows in its meta tag is the one to send.
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)">', web.get("/").get_data(as_text=True)).group(1)
    accepted = web.post("/test/write", json={"n": 2}, headers={"X-CSRF-Token": meta, **json_headers})
    assert accepted.status_code == 200 and accepted.get_json() == {"written_by": "editor"}
    row = audit_rows(scratch_engine, "test_write")[-1]
    assert row["actor"] == "editor" and row["entity_id"] == "7" and row["before"] == {"n": 1}


# -- bearer tokens -------------------------------------------------------------------------------

def test_bearer_token_authenticates_api_calls_without_csrf(web, scratch_engine):
    with scratch_engine.begin() as conn:
        token = create_token(conn, "reviewer", "nightly check")
    headers = {"Authorization": f"Bearer {token}"}
    me = web.get("/api/v1/me", headers=headers)
    assert me.status_code == 200 and me.get_json()["role"] == "municipal_reviewer"
    assert me.get_json()["scope"] == "320400000000"
    assert web.get("/api/v1/summary", headers=headers).status_code == 200
    assert web.post("/test/write", headers=headers).get_json() == {"written_by": "reviewer"}
    with scratch_engine.connect() as conn:
        stored = conn.execute(select(ApiToken.token_hash, ApiToken.last_used_at, ApiToken.label)).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in stored.token_hash
    assert stored.last_used_at is not None and stored.label == "nightly check"
    assert audit_rows(scratch_engine, "token_create")[-1]["after"]["label"] == "nightly check"


def test_bad_or_disabled_bearer_token_is_401(web, scratch_engine):
    response = web.get("/api/v1/me", headers={"Authorization": "Bearer wg_not-a-token"})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "not recognised" in response.get_json()["error"]["message"]
    assert web.post("/test/write", headers={"Authorization": "Bearer wg_not-a-token"}).status_code == 401
    with scratch_engine.begin() as conn:
        token = create_token(conn, "staff")
    set_active(scratch_engine, "staff", False)
    assert web.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_anonymous_api_is_401_and_public_api_stays_open(web):
    response = web.get("/api/v1/me")
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"
    assert web.get("/api/v1/summary").status_code == 200


# -- require(), require_login(), require_permission() in views --------------------------------------

def test_pages_needing_login_redirect_to_the_login_form(web):
    response = web.get("/test/private?a=1")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?next=/test/private?a%3D1"
    login(web, "staff", PASSWORDS["staff"])
    assert web.get("/test/private").get_data(as_text=True) == "private page"


def test_require_checks_role_and_scope_and_names_what_is_needed(web):
    login(web, "editor", PASSWORDS["editor"])
    assert web.get("/test/area/320499001001", headers={"Accept": "application/json"}).status_code == 200
    refused = web.get("/test/area/320402001001", headers={"Accept": "application/json"})
    assert refused.status_code == 403
    message = refused.get_json()["error"]["message"]
    assert "county_editor" in message and "320402001001" in message and "scope 320499000000" in message
    assert web.get("/test/area/12x", headers={"Accept": "application/json"}).status_code == 400
    assert web.get("/test/review/320499001001", headers={"Accept": "application/json"}).status_code == 403


def test_require_wrong_role_and_admin_passes(auth_app):
    reviewer, admin = auth_app.test_client(), auth_app.test_client()
    login(reviewer, "reviewer", PASSWORDS["reviewer"])
    login(admin, "admin", PASSWORDS["admin"])
    refused = reviewer.get("/test/area/320499001001", headers={"Accept": "application/json"})
    assert refused.status_code == 403
    assert "you are reviewer (municipal_reviewer" in refused.get_json()["error"]["message"]
    assert reviewer.get("/test/review/320499001001", headers={"Accept": "application/json"}).status_code == 200
    assert admin.get("/test/area/440305001001", headers={"Accept": "application/json"}).status_code == 200


# -- demo users -------------------------------------------------------------------------------------

def test_demo_users_are_idempotent_one_per_role_and_can_sign_in(auth_app, scratch_engine):
    first = ensure_demo_users(scratch_engine)
    assert ensure_demo_users(scratch_engine) == first
    assert [role for _, role, _, _ in first] == ["admin", "municipal_reviewer", "county_editor", "township_operator",
                                                 "grid_staff"]
    with scratch_engine.connect() as conn:
        assert conn.execute(select(User.username)).scalars().all().__len__() == 5
    assert len(audit_rows(scratch_engine, "user_add")) == 5  # the second call added nobody
    for username, role, scope, password in first:
        client = auth_app.test_client()
        assert login(client, username, password).status_code == 303
        assert client.get("/api/v1/me").get_json() | {"display_name": None} == {
            "username": username, "role": role, "scope": scope, "display_name": None}


def test_create_user_refuses_duplicates_and_short_passwords(scratch_engine):
    from server.errors import Conflict

    with scratch_engine.begin() as conn:
        create_user(conn, "bob", "grid_staff", "320499001001003", "long-enough")
        with pytest.raises(Conflict, match="'bob' exists already"):
            create_user(conn, "bob", "grid_staff", "320499001001003", "long-enough")
        with pytest.raises(ValueError, match="at least 8 characters"):
            create_user(conn, "carol", "grid_staff", "320499001001003", "short")


def test_audit_outside_a_request_records_the_cli_actor(scratch_engine):
    with scratch_engine.begin() as conn:
        audit(conn, "test", "thing", None, None, {"when": __import__("datetime").date(2026, 1, 2)})
    row = audit_rows(scratch_engine, "test")[-1]
    assert row["actor"].startswith("cli:") and row["user_id"] is None and row["after"] == {"when": "2026-01-02"}


# -- the CLI ----------------------------------------------------------------------------------------

def test_cli_user_add_list_token(runner, scratch_engine, scratch_db_url, web):
    env = {"DATABASE_URL": scratch_db_url}
    added = runner.invoke(main, ["user", "add", "alice", "--role", "county_editor", "--scope", "320499000000",
                                 "--name", "Alice", "--password", "alice-pass-1"], env=env)
    assert added.exit_code == 0, added.output
    assert "added user alice" in added.output
    prompted = runner.invoke(main, ["user", "add", "bob", "--role", "reviewer", "--scope", "320400000000"],
                             input="bob-pass-12\nbob-pass-12\n", env=env)
    assert prompted.exit_code == 0, prompted.output
    assert "bob-pass-12" not in prompted.output  # hidden input is not echoed

    listed = runner.invoke(main, ["user", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert re.search(r"alice\s+county_editor\s+320499000000\s+yes\s+Alice", listed.output)
    assert re.search(r"bob\s+municipal_reviewer\s+320400000000", listed.output)

    issued = runner.invoke(main, ["user", "token", "alice", "--label", "import script"], env=env)
    assert issued.exit_code == 0, issued.output
    token = re.search(r"^(wg_\S+)$", issued.output, re.M).group(1)
    me = web.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert me["username"] == "alice" and me["scope"] == "320499000000"
    actors = {r["action"]: r["actor"] for r in audit_rows(scratch_engine) if r["action"] in ("user_add",
                                                                                           "token_create")}
    assert actors["user_add"].startswith("cli:") and actors["token_create"].startswith("cli:")


@pytest.mark.parametrize(("args", "message", "status"), [
    # A bad option value is a usage error (2); what fails while working is a runtime failure (1).
    (["user", "add", "x", "--role", "county_editor", "--scope", "320400000000", "--password", "long-enough"],
     "needs the code of a county; 320400000000 is a city", 2),
    (["user", "add", "admin", "--role", "admin", "--password", "long-enough"], "'admin' exists already", 1),
    (["user", "add", "y", "--role", "admin", "--password", "short"], "at least 8 characters", 1),
    (["user", "token", "nobody"], "no user 'nobody'", 1),
])
def test_cli_errors_are_named(runner, auth_app, scratch_db_url, args, message, status):
    result = runner.invoke(main, args, env={"DATABASE_URL": scratch_db_url})
    assert result.exit_code == status
    assert message in result.output


# -- server-side sessions (issue 11 §4) -------------------------------------------------------------

def test_a_copied_cookie_stops_working_after_logout(web, auth_app):
    login(web, "editor", PASSWORDS["editor"])
    thief = auth_app.test_client()
    thief.set_cookie("wangge_session", web.get_cookie("wangge_session").value)
    assert thief.get("/api/v1/me").status_code == 200  # the copy works while the session lives ...
    with web.session_transaction() as session:
        token = session["csrf_token"]
    assert web.post("/logout", data={"csrf_token": token}).status_code == 303
    assert thief.get("/api/v1/me").status_code == 401  # ... and not after the owner signed out


def test_sessions_survive_a_restart_and_work_across_instances(web, scratch_db_url):
    login(web, "reviewer", PASSWORDS["reviewer"])
    cookie = web.get_cookie("wangge_session").value
    other = create_app({"DATABASE_URL": scratch_db_url, "TESTING": True, "SECRET_KEY": "t" * 64})
    client = other.test_client()
    client.set_cookie("wangge_session", cookie)
    assert client.get("/api/v1/me").get_json()["username"] == "reviewer"
    engine_of(other).dispose()


def test_idle_sessions_end_on_the_server(web, scratch_engine):
    from server.store.models import UserSession

    login(web, "staff", PASSWORDS["staff"])
    with scratch_engine.begin() as conn:
        conn.execute(update(UserSession).values(last_seen_at=text("now() - interval '9 hours'")))
    assert web.get("/api/v1/me").status_code == 401
    with scratch_engine.connect() as conn:
        assert conn.execute(select(UserSession.id)).first() is None  # the idle session was deleted


def test_login_throttle_counts_across_workers(auth_app, scratch_db_url):
    # A second app on the same database stands for a second gunicorn worker.
    other = create_app({"DATABASE_URL": scratch_db_url, "TESTING": True, "SECRET_KEY": "t" * 64})
    clients = [auth_app.test_client(), other.test_client()]
    for i in range(5):
        assert login(clients[i % 2], "operator", "wrong-password").status_code == 401
    assert login(clients[1], "operator", PASSWORDS["operator"]).status_code == 429
    assert login(clients[0], "operator", PASSWORDS["operator"]).status_code == 429
    engine_of(other).dispose()


# -- tokens: expiry, name, last use, revocation -----------------------------------------------------

def test_tokens_expire(web, scratch_engine):
    with scratch_engine.begin() as conn:
        token = create_token(conn, "editor", "short-lived", days=1)
    headers = {"Authorization": f"Bearer {token}"}
    assert web.get("/api/v1/me", headers=headers).status_code == 200
    with scratch_engine.begin() as conn:
        conn.execute(update(ApiToken).values(expires_at=text("now() - interval '1 second'")))
    response = web.get("/api/v1/me", headers=headers)
    assert response.status_code == 401 and "expired" in response.get_json()["error"]["message"]


def test_cli_token_days_revoke_tokens_and_sessions(runner, web, scratch_engine, scratch_db_url):
    env = {"DATABASE_URL": scratch_db_url}
    issued = runner.invoke(main, ["user", "token", "editor", "--label", "sync", "--days", "7"], env=env)
    assert issued.exit_code == 0, issued.output
    token = re.search(r"^(wg_\S+)$", issued.output, re.M).group(1)
    headers = {"Authorization": f"Bearer {token}"}
    assert web.get("/api/v1/me", headers=headers).status_code == 200
    listed = runner.invoke(main, ["user", "tokens", "editor"], env=env)
    assert listed.exit_code == 0 and re.search(r"editor\s+sync\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+\d{4}-\d\d-\d\d\s+live",
                                                listed.output), listed.output
    token_id = int(listed.output.splitlines()[1].split()[0])
    revoked = runner.invoke(main, ["user", "revoke-token", str(token_id)], env=env)
    assert revoked.exit_code == 0 and f"revoked token {token_id}" in revoked.output
    assert web.get("/api/v1/me", headers=headers).status_code == 401
    again = runner.invoke(main, ["user", "revoke-token", str(token_id)], env=env)
    assert again.exit_code == 1 and "no live API token" in again.output  # a runtime failure, not a usage error
    assert audit_rows(scratch_engine, "token_revoke")[-1]["actor"].startswith("cli:")

    login(web, "editor", PASSWORDS["editor"])
    sessions = runner.invoke(main, ["user", "sessions", "editor"], env=env)
    assert sessions.exit_code == 0 and "started" in sessions.output and "127.0.0.1" in sessions.output
    ended = runner.invoke(main, ["user", "sessions", "editor", "--end"], env=env)
    assert ended.exit_code == 0 and "ended 1 session(s) of editor" in ended.output
    assert web.get("/api/v1/me").status_code == 401


def test_cli_disable_enable_and_password(runner, web, scratch_engine, scratch_db_url):
    env = {"DATABASE_URL": scratch_db_url}
    login(web, "operator", PASSWORDS["operator"])
    disabled = runner.invoke(main, ["user", "disable", "operator"], env=env)
    assert disabled.exit_code == 0 and "1 session(s) ended" in disabled.output
    assert web.get("/api/v1/me").status_code == 401
    assert login(web, "operator", PASSWORDS["operator"]).status_code == 403
    assert runner.invoke(main, ["user", "enable", "operator"], env=env).exit_code == 0
    changed = runner.invoke(main, ["user", "password", "operator"], input="new-secret-9\nnew-secret-9\n", env=env)
    assert changed.exit_code == 0 and "new-secret-9" not in changed.output
    assert login(web, "operator", PASSWORDS["operator"]).status_code == 401
    assert login(web, "operator", "new-secret-9").status_code == 303
    actions = [r["action"] for r in audit_rows(scratch_engine) if r["entity"] == "app_user"]
    assert {"user_disable", "user_enable", "password_reset"} <= set(actions)
    missing = runner.invoke(main, ["user", "disable", "nobody"], env=env)
    assert missing.exit_code == 1 and "no user 'nobody'" in missing.output  # a runtime failure


# -- /admin/users and /account/password -------------------------------------------------------------

def _csrf(client) -> str:
    with client.session_transaction() as session:
        return session["csrf_token"]


def test_admin_users_page_is_for_admins_only(auth_app):
    anonymous = auth_app.test_client()
    assert anonymous.get("/admin/users").status_code == 303  # to the login form
    editor = auth_app.test_client()
    login(editor, "editor", PASSWORDS["editor"])
    assert editor.get("/admin/users").status_code == 403
    assert editor.post("/admin/users/staff/disable", data={"csrf_token": _csrf(editor)}).status_code == 403


def test_admin_disables_resets_ends_sessions_and_revokes_audited(auth_app, scratch_engine):
    admin, staff = auth_app.test_client(), auth_app.test_client()
    login(admin, "admin", PASSWORDS["admin"])
    login(staff, "staff", PASSWORDS["staff"])
    with scratch_engine.begin() as conn:
        token = create_token(conn, "staff", "staff phone")
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "用户管理" in page and 'id="user-staff"' in page and "staff phone" in page
    csrf = _csrf(admin)
    done = admin.post("/admin/users/staff/disable", data={"csrf_token": csrf})
    assert done.status_code == 303 and "done=adm_done_disable" in done.headers["Location"]
    assert staff.get("/api/v1/me").status_code == 401
    assert "已停用用户" in admin.get(done.headers["Location"]).get_data(as_text=True)
    admin.post("/admin/users/staff/enable", data={"csrf_token": csrf})
    short = admin.post("/admin/users/staff/password", data={"csrf_token": csrf, "password": "short"})
    assert "adm_error_password" in short.headers["Location"]
    admin.post("/admin/users/staff/password", data={"csrf_token": csrf, "password": "reset-by-admin-1"})
    assert login(auth_app.test_client(), "staff", "reset-by-admin-1").status_code == 303
    with scratch_engine.connect() as conn:
        token_id = conn.execute(select(ApiToken.id).where(ApiToken.label == "staff phone")).scalar_one()
    assert admin.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf}).status_code == 303
    assert auth_app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    self_disable = admin.post("/admin/users/admin/disable", data={"csrf_token": csrf})
    assert "adm_error_self" in self_disable.headers["Location"]
    rows = {r["action"]: r for r in audit_rows(scratch_engine)}
    for action in ("user_disable", "user_enable", "password_reset", "token_revoke"):
        assert rows[action]["actor"] == "admin", action
    assert admin.post("/admin/users/staff/explode", data={"csrf_token": csrf}).status_code == 404


def test_every_user_changes_their_own_password(auth_app, scratch_engine):
    staff, other_device = auth_app.test_client(), auth_app.test_client()
    login(staff, "staff", PASSWORDS["staff"])
    login(other_device, "staff", PASSWORDS["staff"])
    assert "修改密码" in staff.get("/account/password").get_data(as_text=True)
    form = {"csrf_token": _csrf(staff), "current": "wrong-one", "password": "new-pass-123", "confirm": "new-pass-123"}
    wrong = staff.post("/account/password", data=form)
    assert wrong.status_code == 400 and "当前密码不正确" in wrong.get_data(as_text=True)
    form.update(current=PASSWORDS["staff"], confirm="different-1")
    assert "两次输入的新密码不一致" in staff.post("/account/password", data=form).get_data(as_text=True)
    form.update(confirm="new-pass-123")
    done = staff.post("/account/password", data=form)
    assert done.status_code == 303 and "done=1" in done.headers["Location"]
    assert staff.get("/api/v1/me").status_code == 200  # this device stays signed in
    assert other_device.get("/api/v1/me").status_code == 401  # every other one is signed out
    assert login(auth_app.test_client(), "staff", "new-pass-123").status_code == 303
    assert audit_rows(scratch_engine, "password_change")[-1]["actor"] == "staff"
