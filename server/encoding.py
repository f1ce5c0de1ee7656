"""The one JSON encoding of every answer: API, OGC API, tiles metadata, pages' embedded data.

Answers are built from pandas frames and numpy arrays, whose missing values are ``NaN``, ``NaT``,
``pd.NA`` or ``None`` depending on the dtype, and whose numbers are numpy scalars. ``json.dumps`` writes
``NaN`` for a float NaN, which is not JSON: one such value in a grid name once took the public lookup
down. Here every value is made plain first (missing → ``null``, numpy → Python, dates → ISO 8601), and
the dump refuses NaN (``allow_nan=False``), so a new path that forgets cannot bring it back.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from flask.json.provider import JSONProvider


def plain(value: Any) -> Any:
    """``value`` with every missing value as ``None`` and every number, date and container plain Python."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, Decimal):
        return None if not value.is_finite() else float(value)
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, pd.Timestamp | np.datetime64):
        return pd.Timestamp(value).isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def to_json(value: Any, *, indent: int | None = None) -> str:
    """Strict, compact JSON (UTF-8 text, Chinese kept readable) of ``value``."""
    separators = (",", ":") if indent is None else None
    return json.dumps(plain(value), ensure_ascii=False, allow_nan=False, separators=separators, indent=indent)


class WanggeJSONProvider(JSONProvider):
    """Flask's ``jsonify`` and ``request.get_json`` through :func:`to_json` and ``json.loads``."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Encode ``obj`` strictly (see :func:`to_json`)."""
        return to_json(obj, indent=kwargs.get("indent"))

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Decode JSON text."""
        return json.loads(s, **kwargs)
