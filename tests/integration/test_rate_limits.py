"""The one rate limiter, exact and batched, shared by every process through PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.store.limits import RateLimiter
from server.store.models import RateLimit

pytestmark = pytest.mark.db


class Clock:
    def __init__(self, now: float = 1_000_020.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _row_hits(engine, key: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(RateLimit.hits).where(RateLimit.key == key)).scalar_one()


def test_a_batched_limiter_refuses_the_hit_over_the_limit_at_once(scratch_engine):
    clock = Clock()
    limiter = RateLimiter(scratch_engine, "lookup", 5, 60, clock=clock, flush_every=0.25)
    assert [limiter.hit("10.0.0.1") for _ in range(5)] == [0.0] * 5
    assert limiter.hit("10.0.0.1") > 0  # counted in this process without waiting for a flush
    assert limiter.hit("10.0.0.2") == 0.0  # another client has its own count


def test_batched_hits_reach_the_shared_row_and_the_other_instances(scratch_engine):
    clock = Clock()
    a, b = (RateLimiter(scratch_engine, "lookup", 5, 60, clock=clock, flush_every=0.25) for _ in range(2))
    for _ in range(4):
        assert a.hit("10.0.0.9") == 0.0
    clock.now += 0.3  # the next hit on A shares A's hits
    assert a.hit("10.0.0.9") == 0.0
    assert _row_hits(scratch_engine, "lookup:10.0.0.9") == 5
    clock.now += 0.01
    # B has never seen this client: its first hit is shared at once and learns A's five.
    assert b.hit("10.0.0.9") > 0
    assert _row_hits(scratch_engine, "lookup:10.0.0.9") == 6


def test_a_new_window_starts_a_new_count(scratch_engine):
    clock = Clock()
    limiter = RateLimiter(scratch_engine, "lookup", 2, 60, clock=clock, flush_every=0.25)
    limiter.hit("10.0.0.3"), limiter.hit("10.0.0.3")
    assert limiter.hit("10.0.0.3") > 0
    clock.now += 60
    assert limiter.hit("10.0.0.3") == 0.0


def test_an_exact_limiter_shares_every_hit(scratch_engine):
    clock = Clock()
    a, b = (RateLimiter(scratch_engine, "login", 3, 60, clock=clock) for _ in range(2))
    assert a.hit("zhang") == 0.0 and b.hit("zhang") == 0.0 and a.hit("zhang") == 0.0
    assert b.hit("zhang") > 0
    assert _row_hits(scratch_engine, "login:zhang") == 4
