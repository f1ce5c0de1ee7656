"""The grid staff pages: ``/staff`` (the roster, for county and township users) and the public portraits."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, current_app

from server import engine_of
from server.api import params
from server.errors import Forbidden, NotFound
from server.services import staff as service
from server.store import models as m
from server.web.auth import can, current_user, require_login

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
    prefix = service.user_prefix(user)
    with engine_of(current_app).connect() as conn:
        grids = [dict(g) for g in service.store.grid_outlines(conn, prefix, date.today())]
        name = service.store.area_name(conn, scope) if scope else None
    config = {"scope": scope, "scopeName": name, "roles": list(m.STAFF_ROLES), "grids": grids}
    return render_page("staff.html", staff=config, base_layers=base_layers(current_app.config))


@staff_pages.get("/staff/photo/<int:staff_id>")
def photo(staff_id: int):
    """A portrait: public when the person's contact is published, else only to whoever manages them."""
    params.identifier(staff_id, "staff_id")
    with engine_of(current_app).connect() as conn:
        person = service.store.person(conn, staff_id)
        if person is None:
            raise NotFound(f"没有编号为 {staff_id} 的网格员 / no staff member {staff_id}")
        if not person["publish_contact"]:
            user = current_user()
            if user is None or not can(user, "manage_staff", person["township_code"] or "320000000000"):
                raise NotFound(f"网格员 {staff_id} 的照片不公开 / the photo of {staff_id} is not public")
        data = service.photo(conn, staff_id)
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "public, max-age=300"})
