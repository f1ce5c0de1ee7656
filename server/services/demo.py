"""The demo county: base data, a first draft division of each community, users, staff, matters, events.

``wangge demo load`` and ``wangge serve --demo`` both come here, so the demo a user opens always has
grids to look at. Loading twice changes nothing: the import upserts, and communities that already
have a division are not divided again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from server.errors import Conflict
from server.services.division_jobs import divide_many
from server.services.event_demo import ensure_demo_events
from server.services.importer import import_demo
from server.services.matters import ensure_demo_matters
from server.services.review import approve, submit
from server.services.staff import ensure_demo_roster
from server.services.users import ensure_demo_users, user_by_name
from server.store import divisions as divisions_store
from server.store.db import make_engine

log = logging.getLogger(__name__)


#: Left as a draft, so the demo always has a community to edit.
EDITING_DEMO = "320499001001"


def load_demo(url: str, demo_dir: str | Path, *, workers: int = 2, file: bool = True) -> Iterator[str]:
    """Import the demo county and divide its undivided communities; yield one line per step.

    With ``file``, every new division whose live checks pass (except :data:`EDITING_DEMO`) is
    submitted by the demo county editor and approved by the demo reviewer, as the regulations want
    before the public sees a grid; the others stay drafts, with the reason printed.
    """
    engine = make_engine(url)
    try:
        for report in import_demo(engine, demo_dir):
            yield report.summary()
        with engine.connect() as conn:
            communities = divisions_store.community_codes(conn)
            divided = divisions_store.divided_communities(conn)
    finally:
        engine.dispose()
    todo = sorted(communities - divided)
    new_divisions = []
    for outcome in divide_many(url, todo, workers=workers):
        if outcome.error:
            yield f"{outcome.community_code}: not divided: {outcome.error}"
        else:
            new_divisions.append(outcome)
            yield (f"{outcome.community_code}: draft division v{outcome.version}, {outcome.summary['n_grids']} grids "
                   f"({outcome.seconds:.1f} s)")
    engine = make_engine(url)
    try:
        users = ensure_demo_users(engine)
        if file:
            yield from _file_demo_divisions(engine, sorted(new_divisions, key=lambda o: o.community_code))
        with engine.begin() as conn:  # a full roster: chiefs, members, instructors, micro-grid chiefs
            posts = ensure_demo_roster(conn)
        ensure_demo_matters(engine)
        ensure_demo_events(engine)
    finally:
        engine.dispose()
    yield f"demo roster: {posts} posts staffed"
    yield "demo users (demo only — the passwords are public):"
    for username, role, scope, password in users:
        yield f"  {username:<9} {password:<16} {role} {scope or ''}"


def _file_demo_divisions(engine, outcomes) -> Iterator[str]:
    """Submit and approve (from 30 days ago) the new demo divisions that pass their checks."""
    with engine.connect() as conn:
        editor, reviewer = (user_by_name(conn, name) for name in ("editor", "reviewer"))
    for outcome in outcomes:
        if outcome.community_code == EDITING_DEMO:
            yield f"{outcome.community_code}: kept as a draft to edit"
            continue
        try:
            submit(engine, outcome.division_id, user=editor)
            approve(engine, outcome.division_id, effective_from=date.today() - timedelta(days=30),
                    note="demo", user=reviewer)
        except Conflict as exc:
            yield f"{outcome.community_code}: kept as a draft: {exc.message[:160]}"
        else:
            yield f"{outcome.community_code}: approved and filed"
