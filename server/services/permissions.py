"""Roles, scopes and :func:`can`: who may do what where. Pure rules, no database and no web.

Roles and scopes
----------------
A user has one role and, except ``admin``, one scope: the code of the area (or grid) the role applies
to. Areas nest by code prefix (GB/T 2260 + 统计用区划代码, grids after Beijing DB11):

=========== ====== ===================================================
level       prefix how a code of that level is recognised
=========== ====== ===================================================
province    2      12 digits, the last 10 are zeros (``320000000000``)
city        4      12 digits, the last 8 are zeros (``320400000000``)
county      6      12 digits, the last 6 are zeros (``320499000000``)
township    9      12 digits, the last 3 are zeros (``320499001000``)
community   12     12 digits, the last 3 are not all zeros
grid        15     15 digits (community code + grid sequence)
micro_grid  17     17 digits (grid code + micro-grid sequence)
=========== ====== ===================================================

An area lies in a scope when its code starts with the scope's prefix (:func:`scope_contains`).

========================= =========================== ====================================================
role                      scope                       may (:func:`can`)
========================= =========================== ====================================================
``admin``                 none (everywhere)           everything
``municipal_reviewer``    a city                      read drafts, review (approve/return), read the audit
                                                      log, read approved data, in the city; never edit
``county_editor``         a county                    read and edit drafts, submit, read approved data
``township_operator``     a township/street           read and edit drafts, read approved data
``grid_staff``            a community or grid         read approved data of their grid(s) only
anonymous                 —                           nothing here: only the published (public) data,
                                                      which needs no permission check
========================= =========================== ====================================================

``reviewer`` is accepted everywhere as another name of ``municipal_reviewer`` (the name stored, fixed
by the schema's check constraint).
"""

from __future__ import annotations

from gis.errors import InputError
from server.store.models import ROLES, User

# -- roles, levels and scopes -----------------------------------------------------------------------

#: Other names accepted for a role; the value is the name stored.
ROLE_ALIASES = {"reviewer": "municipal_reviewer"}

#: Code prefix length of each level (see the module docstring).
LEVEL_PREFIX = {"province": 2, "city": 4, "county": 6, "township": 9, "community": 12, "grid": 15,
                "micro_grid": 17}

#: The scope levels each role may have; admin has no scope.
ROLE_SCOPE_LEVELS: dict[str, tuple[str, ...]] = {
    "admin": (),
    "municipal_reviewer": ("city",),
    "county_editor": ("county",),
    "township_operator": ("township",),
    "grid_staff": ("community", "grid", "micro_grid"),
}

#: What :func:`can` decides. ``read_approved`` is approved data beyond the published view (household
#: counts per building, unpublished staff contacts); the published view needs no check.
ACTIONS = ("read_approved", "read_draft", "edit_draft", "submit", "review", "admin", "read_audit", "manage_staff")

#: Which actions each role has inside its scope (admin: all, everywhere).
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(ACTIONS),
    "municipal_reviewer": frozenset({"read_approved", "read_draft", "review", "read_audit"}),
    "county_editor": frozenset({"read_approved", "read_draft", "edit_draft", "submit", "manage_staff"}),
    "township_operator": frozenset({"read_approved", "read_draft", "edit_draft", "manage_staff"}),
    "grid_staff": frozenset({"read_approved"}),
}


def normalise_role(role: str) -> str:
    """The stored name of ``role`` (``reviewer`` → ``municipal_reviewer``), or ValueError naming the roles."""
    name = ROLE_ALIASES.get(role, role)
    if name not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)} (or reviewer)")
    return name


def scope_level(code: str) -> str:
    """The level of an area or grid code, read from its length and trailing zeros.

    Raises
    ------
    ValueError
        When ``code`` is not 12, 15 or 17 digits, or is a 12-digit code with no province.
    """
    if not isinstance(code, str) or not code.isdigit() or len(code) not in (12, 15, 17):
        raise ValueError(f"{code!r} is not an area code (12 digits), grid code (15) or micro-grid code (17)")
    if len(code) == 15:
        return "grid"
    if len(code) == 17:
        return "micro_grid"
    if code[:2] == "00":
        raise ValueError(f"{code!r} is not an area code: it names no province")
    for level in ("province", "city", "county", "township"):
        if set(code[LEVEL_PREFIX[level]:]) == {"0"}:
            return level
    return "community"


def scope_prefix(scope_code: str) -> str:
    """The code prefix every area inside ``scope_code`` shares (for ``LIKE prefix || '%'`` filters)."""
    return scope_code[:LEVEL_PREFIX[scope_level(scope_code)]]


def scope_contains(scope_code: str, area_code: str) -> bool:
    """Whether the area (or grid) ``area_code`` lies inside the scope ``scope_code``.

    Parameters
    ----------
    scope_code
        An area, grid or micro-grid code; its level (from trailing zeros, see the module docstring)
        fixes how many leading digits must match.
    area_code
        Any area, grid or micro-grid code. A scope contains itself and everything below it, nothing
        above it: a county scope does not contain its city.

    Raises
    ------
    ValueError
        When either code is malformed (the message names it).
    """
    prefix = scope_prefix(scope_code)
    scope_level(area_code)  # validates; a malformed area code is an error, not "outside"
    return area_code.startswith(prefix)


def validate_scope(role: str, scope_code: str | None) -> tuple[str, str | None]:
    """Check that ``scope_code`` suits ``role``; return the stored role name and scope.

    Raises
    ------
    ValueError
        Naming the role and the scope levels it needs.
    """
    role = normalise_role(role)
    levels = ROLE_SCOPE_LEVELS[role]
    if not levels:
        if scope_code:
            raise ValueError(f"role {role} applies everywhere and takes no scope; got {scope_code!r}")
        return role, None
    if not scope_code:
        raise ValueError(f"role {role} needs a scope: the code of a {' or '.join(levels)}")
    level = scope_level(scope_code)
    if level not in levels:
        raise ValueError(f"role {role} needs the code of a {' or '.join(levels)}; {scope_code} is a {level}")
    return role, scope_code


def can(user: User | None, action: str, area_code: str | None = None) -> bool:
    """Whether ``user`` may do ``action`` on data of ``area_code``.

    Parameters
    ----------
    user
        The user, or None for anonymous (who may do none of these; public data needs no check).
        Inactive users may do nothing.
    action
        One of :data:`ACTIONS`.
    area_code
        The area, grid or micro-grid the data belongs to (for a division: its community code). None
        asks about everything at once (the whole audit log, a county-wide list): only admin may.

    Raises
    ------
    ValueError
        For an unknown action (a programming error, not "no").
    InputError
        For a malformed area code, which reaches here from a URL or a body: a 400 naming the code.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; actions are {', '.join(ACTIONS)}")
    if area_code is not None:
        try:
            scope_level(area_code)
        except ValueError as exc:
            raise InputError(f"区划或网格编码有误 / {exc}", field="code") from None
    if user is None or not user.active:
        return False
    role = ROLE_ALIASES.get(user.role, user.role)
    if role == "admin":
        return True
    if action not in ROLE_ACTIONS.get(role, ()) or area_code is None or not user.scope_code:
        return False
    return scope_contains(user.scope_code, area_code)
