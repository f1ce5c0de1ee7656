"""Rate limits for the web layer: the one PostgreSQL-backed limiter of :mod:`server.store.limits`.

The web and API layers reach the store only through services; this module is that door.
"""

from __future__ import annotations

from server.store.limits import RateLimiter

__all__ = ["RateLimiter"]
