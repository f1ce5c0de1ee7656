"""One rate limiter for the whole app, kept in PostgreSQL so every worker and instance counts together.

Hits are counted per key in fixed windows of ``window`` seconds with one atomic upsert
(``INSERT … ON CONFLICT DO UPDATE … RETURNING hits``): two workers counting at once never lose a hit,
and no lock is held between requests. A fixed window lets a client spend its limit at the end of one
window and again at the start of the next (at most twice the limit in one window's time); for login
guessing and anonymous reports that bound is enough, and it needs one row per key and window.

Used by the login throttle (per user name and per client address), the public event report, and the
anonymous lookup endpoints. Keys are namespaced by the limiter's ``name``.

A limiter made with ``flush_every`` (the point lookup's) counts each hit in the process at once and adds
the process's hits to the shared rows in one statement at most every ``flush_every`` seconds, learning
the other processes' hits from the same statement. Under a load test of 500 lookups/s a round trip per
hit was most of the 99th percentile; batched, a client may overshoot its limit by what the other
processes saw of it in the last ``flush_every`` seconds, which does not matter for a limit of
hundreds of lookups a minute. Sign-in and report limits stay exact.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy import Engine, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert

from server.store.models import RateLimit

#: Expired rows are swept on about one hit in this many (cheap, and no scheduler is needed).
_SWEEP_ONE_IN = 200

# Built once: constructing the statement per hit cost more CPU than running it.
_INSERT = insert(RateLimit).values(key=bindparam("key"), window_start=bindparam("start"),
                                   window_end=bindparam("end"), hits=bindparam("hits"))
#: Add ``hits`` to a key's row in a window (made when missing). Built once: constructing the statement
#: per hit cost more CPU than running it. One row per call for an exact hit, many for a batch.
_UPSERT = (_INSERT.on_conflict_do_update(index_elements=[RateLimit.key, RateLimit.window_start],
                                         set_={"hits": RateLimit.hits + _INSERT.excluded.hits})
           .returning(RateLimit.key, RateLimit.window_start, RateLimit.hits))


class RateLimiter:
    """At most ``limit`` hits per key in each window of ``window`` seconds, shared through the database.

    Parameters
    ----------
    engine
        The app's engine; each call runs in its own short transaction.
    name
        Namespace of the keys (``login``, ``public_report``, ``lookup``).
    limit, window
        Hits allowed per window of seconds.
    clock
        Epoch seconds; tests pass a fake. Windows are aligned to it, so workers on one host agree.
    flush_every
        0: every hit is one statement. Above 0: hits are batched (see the module's notes).
    """

    def __init__(self, engine: Engine, name: str, limit: int, window: float,
                 clock: Callable[[], float] = time.time, flush_every: float = 0.0) -> None:
        if limit < 1 or window <= 0:
            raise ValueError(f"rate limit {name}: needs at least 1 hit per positive window; got {limit}/{window}")
        self.engine, self.name, self.limit, self.window, self.clock = engine, name, limit, window, clock
        # A hit is one statement: in autocommit it is one round trip, with no BEGIN and COMMIT around it.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.flush_every = flush_every
        self._lock = threading.Lock()  # a gthread worker serves several requests at once
        self._pending: dict[tuple[str, int], int] = {}  # (key, window start) -> hits not yet shared
        self._shared: dict[tuple[str, int], int] = {}  # (key, window start) -> total at the last flush
        self._flushed_at = -float("inf")

    @classmethod
    def from_setting(cls, engine: Engine, name: str, value: str, setting: str,
                     flush_every: float = 0.0) -> RateLimiter:
        """From ``"COUNT/SECONDS"``; ``setting`` names the configuration key in the error."""
        count, _, seconds = str(value).partition("/")
        try:
            return cls(engine, name, int(count), float(seconds), flush_every=flush_every)
        except ValueError:
            raise ValueError(f"configuration WANGGE_{setting} must be COUNT/SECONDS with both positive, "
                             f"e.g. 10/3600; got {value!r}") from None

    def _window(self) -> tuple[int, int, float]:
        now = self.clock()
        start = int(now // self.window * self.window)
        return start, int(start + self.window), now

    def _key(self, key: str) -> str:
        return f"{self.name}:{key}"[:200]

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until every key may be hit again (0 when none is at its limit); counts nothing."""
        start, end, now = self._window()
        names = [self._key(k) for k in keys]
        with self.engine.connect() as conn:
            hits = conn.execute(select(RateLimit.hits).where(RateLimit.key.in_(names),
                                                             RateLimit.window_start == start)).scalars().all()
        return end - now if any(h >= self.limit for h in hits) else 0.0

    def count(self, keys: Iterable[str]) -> None:
        """Count one hit against every key (a failed sign-in counts against the user name and the address)."""
        start, end, _ = self._window()
        with self.engine.begin() as conn:
            for key in keys:
                self._upsert(conn, self._key(key), start, end)
            self._sweep(conn)

    def hit(self, key: str) -> float:
        """Count one hit for ``key`` and return 0, or the seconds to wait when it is over the limit.

        A refused hit is counted too (the row says how hard a client pushes); the answer does not change.
        """
        start, end, now = self._window()
        if self.flush_every > 0:
            hits = self._hit_batched((self._key(key), start), now)
        else:
            with self._autocommit.connect() as conn:
                hits = self._upsert(conn, self._key(key), start, end)
                self._sweep(conn)
        return end - now if hits > self.limit else 0.0

    def _hit_batched(self, slot: tuple[str, int], now: float) -> int:
        with self._lock:
            self._pending[slot] = self._pending.get(slot, 0) + 1
            hits = self._shared.get(slot, 0) + self._pending[slot]
            if now - self._flushed_at < self.flush_every:
                return hits
            batch, self._pending, self._flushed_at = self._pending, {}, now
        totals = self._add(batch)
        with self._lock:
            current = slot[1]
            self._shared = {s: n for s, n in self._shared.items() if s[1] >= current}  # older windows are over
            self._shared.update(totals)
            return max(hits, totals.get(slot, 0) + self._pending.get(slot, 0))

    def _add(self, batch: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """Add a batch of hits to the shared rows in one round trip; the rows' totals after it."""
        rows = [{"key": key, "start": start, "end": int(start + self.window), "hits": n}
                for (key, start), n in batch.items()]
        with self._autocommit.connect() as conn:
            totals = conn.execute(_UPSERT, rows).all()
            self._sweep(conn)
        return {(key, start): hits for key, start, hits in totals}

    @staticmethod
    def _upsert(conn, key: str, start: int, end: int) -> int:
        return conn.execute(_UPSERT, {"key": key, "start": start, "end": end, "hits": 1}).one().hits

    def _sweep(self, conn) -> None:
        if random.randrange(_SWEEP_ONE_IN) == 0:  # noqa: S311 - not security relevant, only housekeeping
            conn.execute(delete(RateLimit).where(RateLimit.window_end < int(self.clock())))

    def reset(self, key: str) -> None:
        """Forget one key's hits (a successful sign-in resets its user name)."""
        with self.engine.begin() as conn:
            conn.execute(delete(RateLimit).where(RateLimit.key == self._key(key)))

    def clear(self) -> None:
        """Forget every hit of this limiter (tests, and an operator after a false alarm)."""
        with self._lock:
            self._pending, self._shared = {}, {}
        with self.engine.begin() as conn:
            conn.execute(delete(RateLimit).where(RateLimit.key.startswith(self.name + ":", autoescape=True)))
