"""Guards every request passes, installed once by ``create_app``: bounded JSON, no NUL, security headers.

- **JSON bodies** are checked before they are parsed (:class:`WanggeRequest`): at most ``MAX_JSON_MB``
  and ``MAX_JSON_DEPTH`` levels of nesting (a body of 100,000 ``[`` would otherwise exhaust Python's
  recursion), and no NUL character, which PostgreSQL cannot store. Every route that reads JSON through
  ``request.get_json`` is covered, whoever wrote it.
- **NUL in the URL**: a query parameter, form field or path segment holding NUL is a 400 naming it.
- **Headers**: a Content-Security-Policy allowing scripts from this site only (no inline script, no
  framing), ``X-Frame-Options: DENY``, ``nosniff``, a strict Referrer-Policy; HSTS when cookies are Secure.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import numpy as np
from flask import Flask, Request, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

from gis.errors import InputError
from server.errors import PayloadTooLarge

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NUL_ESCAPE = re.compile(rb"\\u0000", re.I)


def json_depth(data: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in JSON text, strings ignored (without parsing it)."""
    skeleton = _JSON_STRING.sub(b"", data)
    codes = np.frombuffer(skeleton, dtype=np.uint8)
    steps = np.zeros(len(codes), dtype=np.int32)
    steps[(codes == ord("[")) | (codes == ord("{"))] = 1
    steps[(codes == ord("]")) | (codes == ord("}"))] = -1
    return int(np.cumsum(steps).max(initial=0))


class WanggeRequest(Request):
    """Flask's request, with JSON bodies bounded in size and depth and free of NUL before parsing."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True):  # noqa: D102
        if not (force or self.is_json):
            return super().get_json(force=force, silent=silent, cache=cache)
        config = current_app.config
        limit = int(config.get("MAX_JSON_MB", 16)) * 1024 * 1024
        if self.content_length is not None and self.content_length > limit:
            raise PayloadTooLarge(f"JSON 请求体超过 {limit // 2**20} MB / the JSON body is larger than "
                                  f"{limit // 2**20} MB (WANGGE_MAX_JSON_MB)")
        data = self.get_data(cache=True)
        if len(data) > limit:
            raise PayloadTooLarge(f"JSON 请求体超过 {limit // 2**20} MB / the JSON body is larger than "
                                  f"{limit // 2**20} MB (WANGGE_MAX_JSON_MB)")
        max_depth = int(config.get("MAX_JSON_DEPTH", 64))
        if json_depth(data) > max_depth:
            raise InputError(f"JSON 嵌套超过 {max_depth} 层 / the JSON body is nested deeper than {max_depth} levels",
                             field="body")
        if b"\x00" in data or _NUL_ESCAPE.search(data):
            raise InputError("文本中含有 NUL 字符 / the body contains a NUL character (\\u0000), which cannot be "
                             "stored", field="body")
        return super().get_json(force=force, silent=silent, cache=cache)


def _text_fields():
    yield from request.args.items(multi=True)
    yield from (request.view_args or {}).items()
    if request.method in ("POST", "PUT", "PATCH") and request.mimetype in ("application/x-www-form-urlencoded",
                                                                           "multipart/form-data"):
        yield from request.form.items(multi=True)


def _refuse_nul() -> None:
    for name, value in _text_fields():
        if isinstance(value, str) and "\x00" in value:
            raise InputError("含有 NUL 字符 / contains a NUL character, which cannot be stored", field=name)


def content_security_policy(config: dict) -> str:
    """Scripts, styles, fonts and data from this site only; map tiles also from the configured tile host."""
    images = ["'self'", "data:", "blob:"]
    tiles = {"osm": "https://tile.openstreetmap.org", "tianditu": "https://*.tianditu.gov.cn"}
    if config.get("TILES") in tiles:
        images.append(tiles[config["TILES"]])
    elif config.get("TILES") == "custom" and config.get("TILE_URL"):
        parts = urlsplit(config["TILE_URL"].replace("{s}", "a"))
        if parts.scheme and parts.netloc:
            images.append(f"{parts.scheme}://{parts.netloc}")
    # Inline *styles* stay allowed: Leaflet positions every tile and marker with a style attribute.
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'",
        f"img-src {' '.join(images)}", "connect-src 'self'", "font-src 'self'", "object-src 'none'",
        "base-uri 'self'", "form-action 'self'", "frame-ancestors 'none'"])


def init_app(app: Flask) -> None:
    """Install the request class, the NUL guard and the security headers on ``app``."""
    app.request_class = WanggeRequest
    hops = int(app.config.get("PROXY_HOPS") or 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    # First of all before-request hooks: nothing else may read a NUL-bearing value.
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_nul)
    policy = content_security_policy(app.config)
    secure = bool(app.config.get("SECURE_COOKIES"))

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", policy)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if response.status_code == 503:
            headers.setdefault("Retry-After", "30")
        return response
