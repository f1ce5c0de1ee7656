"""The demo county: base data from ``data/boundaries/demo`` and a first draft division of each community.

``wangge demo load`` and ``wangge serve --demo`` both come here, so the demo a user opens always has
grids to look at. Loading twice changes nothing: the import upserts, and communities that already
have a division are not divided again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select

from server import models as m
from server.auth import ensure_demo_users
from server.db import make_engine
from server.divisions import divide_many
from server.importer import import_demo

log = logging.getLogger(__name__)


def load_demo(url: str, demo_dir: str | Path, *, workers: int = 2) -> Iterator[str]:
    """Import the demo county and divide its undivided communities; yield one line per step."""
    engine = make_engine(url)
    try:
        for report in import_demo(engine, demo_dir):
            yield report.summary()
        with engine.connect() as conn:
            communities = set(conn.execute(select(m.AdminArea.code).where(m.AdminArea.level == "community"))
                              .scalars())
            divided = set(conn.execute(select(m.Division.community_code)).scalars())
    finally:
        engine.dispose()
    todo = sorted(communities - divided)
    for outcome in divide_many(url, todo, workers=workers):
        if outcome.error:
            yield f"{outcome.community_code}: not divided: {outcome.error}"
        else:
            yield (f"{outcome.community_code}: draft division v{outcome.version}, {outcome.summary['n_grids']} grids "
                   f"({outcome.seconds:.1f} s)")
    engine = make_engine(url)
    try:
        users = ensure_demo_users(engine)
    finally:
        engine.dispose()
    yield "demo users (demo only — the passwords are public):"
    for username, role, scope, password in users:
        yield f"  {username:<9} {password:<16} {role} {scope or ''}"
