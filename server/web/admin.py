"""Who may sign in, for admins (``/admin/users``) and for every user (``/account/password``).

The admin page does what ``wangge user disable|enable|password|revoke-token|sessions`` does: disable or
enable a user (disabling ends their sessions), set a new password (ending their sessions), end a user's
sessions, and revoke an API token. Every action is a CSRF-protected POST, audited with the admin as
actor by :mod:`server.services.users`, and answered with a redirect back to the page and a message.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, redirect, request, url_for

from server import engine_of
from server.access import require_login, require_permission
from server.api.params import identifier, text
from server.errors import Conflict, NotFound
from server.services import users as users_service
from server.web.auth import end_session, start_session

admin = Blueprint("admin", __name__)

#: The messages the page shows after an action (keys of server.web.i18n).
DONE_MESSAGES = ("adm_done_disable", "adm_done_enable", "adm_done_password", "adm_done_sessions",
                 "adm_done_revoke", "adm_error_password", "adm_error_self")


def _render(template: str, status: int = 200, **context):
    from server.web.pages import render_page

    response = render_page(template, **context)
    response.status_code = status
    return response


def _back(message: str, username: str | None = None):
    args = {"done": message}
    if username:
        args["user"] = username
    if request.args.get("lang"):
        args["lang"] = request.args["lang"]
    return redirect(url_for("admin.users_page", **args), 303)


@admin.get("/admin/users")
def users_page():
    """Every user with their sessions and live tokens, and the actions an admin may take."""
    require_permission("admin")
    with engine_of(current_app).connect() as conn:
        users = users_service.list_users(conn)
        tokens = users_service.list_tokens(conn)
    done = request.args.get("done")
    return _render("admin_users.html", users=users, tokens=tokens,
                   done=done if done in DONE_MESSAGES else None, done_user=request.args.get("user", ""))


def _username(value: str) -> str:
    return text(value, "username", max_length=64, required=True)  # app_user.username is String(64)


@admin.post("/admin/users/<username>/<action>")
def user_action(username: str, action: str):
    """``disable``, ``enable``, ``password`` (form field ``password``) or ``sessions`` (end them all)."""
    actor = require_permission("admin")
    username = _username(username)
    if action not in ("disable", "enable", "password", "sessions"):
        raise NotFound(f"没有操作 {action} / no user action {action!r}")
    try:
        with engine_of(current_app).begin() as conn:
            if action in ("disable", "enable"):
                users_service.set_active(conn, username, action == "enable", actor=actor)
            elif action == "password":
                password = text(request.form.get("password"), "password", max_length=1024, required=True)
                users_service.set_password(conn, username, password, actor=actor)
            else:
                users_service.end_sessions(conn, username, actor=actor)
    except ValueError:  # a password too short: say so on the page
        return _back("adm_error_password", username)
    except Conflict:  # an admin disabling themselves
        return _back("adm_error_self", username)
    if actor.username == username and action == "sessions":
        end_session()
        return redirect(url_for("auth.login_form"), 303)
    return _back(f"adm_done_{action}", username)


@admin.post("/admin/tokens/<int:token_id>/revoke")
def token_revoke(token_id: int):
    """Revoke one API token now."""
    actor = require_permission("admin")
    with engine_of(current_app).begin() as conn:
        before = users_service.revoke_token(conn, identifier(token_id, "token_id"), actor=actor)
    return _back("adm_done_revoke", str(before.get("label") or token_id))


@admin.get("/account/password")
def password_page():
    """The form every signed-in user changes their own password with."""
    require_login()
    return _render("password.html", error=None, done=request.args.get("done") == "1")


@admin.post("/account/password")
def password_change():
    """Check the current password, set the new one, end the user's other sessions (this one stays)."""
    user = require_login()
    current = request.form.get("current", "")
    new = text(request.form.get("password"), "password", max_length=1024) or ""
    confirm = request.form.get("confirm", "")
    error = None
    with engine_of(current_app).begin() as conn:
        if not users_service.check_password(conn, user.username, current):
            error = "pw_error_current"
        elif new != confirm:
            error = "pw_error_confirm"
        elif len(new) < users_service.MIN_PASSWORD_LENGTH:
            error = "pw_error_short"
        else:  # every session ends, this one too; a fresh one starts below
            users_service.set_password(conn, user.username, new, actor=user)
    if error:
        return _render("password.html", status=400, error=error, done=False)
    with engine_of(current_app).connect() as conn:
        start_session(users_service.user_by_name(conn, user.username))  # a new id and fingerprint for the new hash
    lang = {"lang": request.args["lang"]} if request.args.get("lang") else {}
    return redirect(url_for("admin.password_page", done=1, **lang), 303)


def init_app(app: Flask) -> None:
    """Register the pages on ``app``."""
    app.register_blueprint(admin)
