"""HTTP caching of public answers: ``ETag``, ``Cache-Control`` and ``304 Not Modified``.

Tiles, OGC items, notice boards and lookups of approved divisions change only when a division is
approved, so a reverse proxy or a CDN in front of several app instances can absorb most of a city's
load. The validator is a hash of the body (weak comparison is enough for JSON and tiles): an answer
that did not change gets the same ETag from every instance, with no shared state.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import make_response, request


def public_cache(max_age: int) -> Callable:
    """Mark a GET view's answer cacheable by anyone for ``max_age`` seconds, with an ETag and 304s.

    Only successful answers are marked (an empty 204 tile too): an error must not be cached by a proxy.
    """

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            response = make_response(view(*args, **kwargs))
            if request.method in ("GET", "HEAD") and response.status_code in (200, 204) and not response.is_streamed:
                response.cache_control.public = True
                response.cache_control.max_age = max_age
                response.vary.add("Accept-Encoding")
                if response.status_code == 200:
                    response.add_etag()
                    response = response.make_conditional(request)
            return response

        return wrapper

    return decorate
