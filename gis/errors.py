"""Errors raised by the pure spatial layer.

The web and CLI layers translate them (``server.errors``); messages are safe to show to users and
always name what is wrong: the file, the feature or row, and the field.
"""

from __future__ import annotations


class GisError(Exception):
    """Base of every error raised by :mod:`gis`."""


class InputError(GisError, ValueError):
    """Bad input data: names the source, the feature/row and the field when known.

    Parameters
    ----------
    message
        What is wrong, including the offending value.
    source
        The file (or layer) the data came from.
    row
        The 1-based feature or row number in that source.
    field
        The column or attribute at fault.
    """

    def __init__(self, message: str, *, source: str | None = None, row: int | None = None,
                 field: str | None = None) -> None:
        self.message = message
        self.source = source
        self.row = row
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(str(self.source))
        if self.row is not None:
            where.append(f"feature {self.row}")
        if self.field:
            where.append(f"field '{self.field}'")
        return (", ".join(where) + ": " if where else "") + self.message


class InfeasibleError(GisError):
    """A division cannot be made at all (not merely outside the band)."""
