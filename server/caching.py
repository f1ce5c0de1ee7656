"""HTTP caching of public answers: ``ETag``, ``Cache-Control`` and ``304 Not Modified``.

Tiles, OGC items, notice boards and lookups of approved divisions change only when a division is
approved, so a reverse proxy or a CDN in front of several app instances can absorb most of a city's
load. The validator is a hash of the body (weak comparison is enough for JSON and tiles), with whatever
else the answer depends on mixed in (the lookup's directory signature): an answer that did not change
gets the same ETag from every instance, with no shared state.

Not everything a public route answers is public. A view marks an answer that must not be kept (a draft)
``no-store`` itself and is left alone. A request that carries a cookie or an ``Authorization`` header, or
an answer that sets a cookie, is someone's own (a signed-in session is refreshed on every answer, a
language cookie changes the page): it is marked ``private``, which lets the browser keep it but no shared
cache, as nginx (``proxy_no_cache $http_cookie``) does anyway.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable

from flask import Response, make_response, request, session


def public_cache(max_age: int, validator: Callable[[], object] | None = None) -> Callable:
    """Mark a GET view's answer cacheable by anyone for ``max_age`` seconds, with an ETag and 304s.

    Only successful answers are marked (an empty 204 tile too): an error must not be cached by a proxy.

    Parameters
    ----------
    max_age
        Seconds a cache may serve the answer without asking again.
    validator
        Called after the view; its ``repr`` is hashed into the ETag with the body, so what it returns
        changing (the lookup's directory signature after an approval) changes the ETag.
    """

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            response = make_response(view(*args, **kwargs))
            if request.method not in ("GET", "HEAD") or response.status_code not in (200, 204) \
                    or response.is_streamed or response.cache_control.no_store:
                return response
            if _personal(response):
                response.cache_control.private = True
            else:
                response.cache_control.public = True
            response.cache_control.max_age = max_age
            response.vary.add("Accept-Encoding")
            if response.status_code == 200:
                response.set_etag(_etag(response, validator))
                response = response.make_conditional(request)
            return response

        return wrapper

    return decorate


def no_store(answer) -> Response:
    """``answer`` as a response no cache may keep (a draft, a preview)."""
    response = make_response(answer)
    response.cache_control.no_store = True
    return response


def _personal(response: Response) -> bool:
    """Whether the answer belongs to one client: it came with credentials or a cookie, or sets one."""
    return bool(request.headers.get("Cookie") or request.headers.get("Authorization")
                or response.headers.get("Set-Cookie") or session.modified)


def _etag(response: Response, validator: Callable[[], object] | None) -> str:
    digest = hashlib.sha1(response.get_data(), usedforsecurity=False)
    if validator is not None:
        digest.update(repr(validator()).encode())
    return digest.hexdigest()
