"""The grid staff pages: ``/staff`` (the roster, for county and township users) and the public portraits."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from server import engine_of
from server.access import current_user, require_login
from server.api import params
from server.errors import Forbidden
from server.services import staff as service
from server.services.permissions import can

staff_pages = Blueprint("staff_pages", __name__)


@staff_pages.get("/staff")
def roster_page():
    """The roster: search, filter, add, edit, assign, end; drag a person onto a grid; import and export."""
    from server.web.pages import base_layers, render_page

    user = require_login()
    scope = user.scope_code or ""
    if user.role != "admin" and not (scope and can(user, "manage_staff", scope)):
        raise Forbidden("管理网格员须为区县或乡镇街道账号 / managing staff needs a county editor or township operator",
                        details={"role": user.role})
    with engine_of(current_app).connect() as conn:
        config = service.roster_page(conn, user)
    return render_page("staff.html", staff=config, base_layers=base_layers(current_app.config))


@staff_pages.get("/staff/photo/<int:staff_id>")
def photo(staff_id: int):
    """A portrait: public when the person's contact is published, else only to whoever manages them."""
    params.identifier(staff_id, "staff_id")
    with engine_of(current_app).connect() as conn:
        data = service.public_photo(conn, staff_id, current_user())
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "public, max-age=300"})
