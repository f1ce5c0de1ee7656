"""The wangge web application: ``create_app(config)`` builds a Flask app; nothing is built at import."""

from __future__ import annotations

import logging
from typing import Any

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
    from server.config import load_config
    from server.encoding import WanggeJSONProvider
    from server.errors import register_error_handlers
    from server.store.db import database_url, make_engine

    settings = load_config(config)
    # Pages, their templates and static files live in the web layer.
    app = Flask(__name__, static_folder="web/static", template_folder="web/templates")
    app.config.update(settings)
    app.json = WanggeJSONProvider(app)  # one strict JSON encoding for every answer
    app.extensions["wangge.engine"] = make_engine(database_url(settings))

    from server.api import api
    from server.api.divisions import divisions_api
    from server.api.events import events_api, events_pages
    from server.api.lookup import lookup
    from server.api.params import check_path_ids
    from server.api.review import review_api, review_pages
    from server.web import admin, auth, security
    from server.web.ogc import ogc
    from server.web.pages import pages
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
    register_error_handlers(app)
    app.url_value_preprocessor(check_path_ids)
    auth.init_app(app)  # sessions, CSRF, sign-in pages; after the generic handlers it refines (401 → /login)
    admin.init_app(app)  # /admin/users and /account/password
    security.init_app(app)  # JSON and NUL guards (first of the hooks) and the security headers
    return app


def engine_of(app: Flask):
    """The SQLAlchemy engine bound to ``app``."""
    return app.extensions["wangge.engine"]
