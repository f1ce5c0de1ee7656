"""The wangge web application: ``create_app(config)`` builds a Flask app; nothing is built at import."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Flask is imported by create_app, so the CLI can start without it
    from flask import Flask

log = logging.getLogger(__name__)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app.

    Parameters
    ----------
    config
        Overrides on top of defaults and the environment (see :mod:`server.config`). The database is
        not started here: the CLI (``wangge serve``) or the test fixtures start it first.
    """
    from flask import Flask

    from server.config import load_config
    from server.encoding import WanggeJSONProvider
    from server.errors import register_error_handlers
    from server.store.db import database_url, make_engine, make_public_reads

    settings = load_config(config)
    # Pages, their templates and static files live in the web layer.
    app = Flask(__name__, static_folder="web/static", template_folder="web/templates")
    app.config.update(settings)
    app.json = WanggeJSONProvider(app)  # one strict JSON encoding for every answer
    _compress(app)
    app.extensions["wangge.engine"] = make_engine(database_url(settings))
    app.extensions["wangge.reads"] = make_public_reads(app.extensions["wangge.engine"],
                                                       settings["DATABASE_READ_URL"])

    from server.api import api
    from server.api.divisions import divisions_api
    from server.api.events import events_api
    from server.api.lookup import lookup
    from server.api.params import check_path_ids
    from server.api.review import review_api
    from server.api.staff import staff_api
    from server.web import admin, auth, security
    from server.web.events import events_pages
    from server.web.ogc import ogc
    from server.web.pages import pages
    from server.web.review import review_pages
    from server.web.staff import staff_pages
    from server.web.tiles import tiles

    app.register_blueprint(api)
    app.register_blueprint(divisions_api)
    app.register_blueprint(pages)
    app.register_blueprint(ogc)
    app.register_blueprint(tiles)
    app.register_blueprint(lookup)
    app.register_blueprint(events_api)
    app.register_blueprint(events_pages)
    app.register_blueprint(review_api)
    app.register_blueprint(review_pages)
    app.register_blueprint(staff_api)
    app.register_blueprint(staff_pages)
    register_error_handlers(app)
    app.url_value_preprocessor(check_path_ids)
    auth.init_app(app)  # sessions, CSRF, sign-in pages; after the generic handlers it refines (401 → /login)
    admin.init_app(app)  # /admin/users and /account/password
    security.init_app(app)  # JSON and NUL guards (first of the hooks) and the security headers
    return app


#: Answers worth compressing: GeoJSON of 77 grids is 281 KB raw and a tenth of it gzipped.
COMPRESSED_TYPES = ["application/json", "application/geo+json", "application/schema+json",
                    "application/vnd.oai.openapi+json", "application/vnd.mapbox-vector-tile", "text/html", "text/css",
                    "application/javascript", "text/javascript", "text/csv"]


def _compress(app: Flask) -> None:
    """Compress (gzip or Brotli) JSON, GeoJSON, vector tiles and pages, when the client accepts it."""
    from flask_compress import Compress

    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED_TYPES)
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    app.config.setdefault("COMPRESS_MIN_SIZE", 500)
    Compress(app)


def engine_of(app: Flask):
    """The SQLAlchemy engine bound to ``app``."""
    return app.extensions["wangge.engine"]


def public_reads_of(app: Flask):
    """Where ``app``'s public reads go (:class:`server.store.db.PublicReads`): the replica, if any."""
    return app.extensions["wangge.reads"]
