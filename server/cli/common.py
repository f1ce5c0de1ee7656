"""What every ``wangge`` command shares: errors and exit status, the database, progress bars, JSON output.

Exit status: 0 done, 1 a runtime failure (bad data, a missing file, the database refusing), 2 a usage
error (click's: an unknown option, a bad option value). An error is one line on stderr naming the
file, feature and field where it can; a traceback only goes to the log with ``wangge -v``.
Nothing here imports SQLAlchemy or Flask at module level, so ``wangge --help`` and ``divide-file``
stay light.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

import click

log = logging.getLogger("wangge")

#: A runtime failure; click exits 2 for usage errors itself.
EXIT_FAILURE = 1


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with status 1 (nothing, or nothing more, was done)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_FAILURE)


def one_line(exc: BaseException) -> str:
    """An unexpected error as one line: its kind and the first line of its message (never SQL parameters)."""
    inner = getattr(exc, "orig", None) or exc  # a SQLAlchemy DBAPIError: the driver's own message
    first = (str(inner).strip().splitlines() or [""])[0]
    if len(first) > 300:
        first = first[:297] + "..."
    return f"{type(inner).__name__}: {first}" if first else type(inner).__name__


class WanggeGroup(click.Group):
    """The ``wangge`` group: every error any command lets through becomes one line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; turn an uncaught error into ``error: ...`` and exit status 1."""
        from gis.errors import InputError

        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except InputError as exc:
            log.debug("input error", exc_info=True)
            fail(str(exc))
        except Exception as exc:  # the last resort: a bug or a dependency down, told in one line
            log.debug("command failed", exc_info=True)
            fail(f"{one_line(exc)} (run with -v for the details)")


def package_version() -> str:
    """The installed version of wangge (pyproject.toml's, via the package metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wangge")
    except PackageNotFoundError:  # a source tree that was never installed: read pyproject.toml itself
        import tomllib
        from pathlib import Path

        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]


@contextlib.contextmanager
def database(config: dict) -> Iterator[str]:
    """The URL of the configured database, starting the embedded one for the duration if needed."""
    from server.store.db import running_database
    from server.store.embedded import EmbeddedDatabaseError

    try:
        with running_database(config) as url:
            yield url
    except EmbeddedDatabaseError as exc:
        fail(str(exc))


@contextlib.contextmanager
def migrated_engine(config: dict | None = None) -> Iterator[tuple[Any, dict]]:
    """The configured database (the embedded one started if needed), migrated; and the configuration."""
    from server.config import load_config
    from server.store.db import make_engine
    from server.store.migrate import upgrade

    config = config if config is not None else load_config()
    with database(config) as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            yield engine, config
        finally:
            engine.dispose()


class _QuietBar:
    """A progress bar that shows nothing (the output is not a terminal)."""

    def __enter__(self) -> _QuietBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, steps: int, current_item: object = None) -> None:
        """Do nothing."""

    def __iter__(self) -> Iterator:
        return iter(self.items)

    items: Any = ()


def progress_bar(label: str, length: int | None = None, iterable: Any = None, **options: Any) -> Any:
    """A progress bar on stderr, or a silent stand-in when stderr is not a terminal (scripts, logs, CI)."""
    stream = sys.stderr
    if not stream.isatty():
        bar = _QuietBar()
        bar.items = iterable if iterable is not None else ()
        return bar
    return click.progressbar(iterable, length=length, label=label, file=stream, **options)


def emit_json(value: Any) -> None:
    """Print ``value`` as one JSON document on stdout (for ``--json``): strict, no NaN, Chinese readable."""
    click.echo(json.dumps(_plain(value), ensure_ascii=False, allow_nan=False, indent=2))


def _plain(value: Any) -> Any:
    """``value`` made JSON-plain: numpy scalars to Python, NaN to null (the CLI's report dictionaries)."""
    import math

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
