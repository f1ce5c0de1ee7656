"""``wangge lookup-batch IN.csv OUT.csv``: the batch lookup of ``POST /api/v1/lookup/batch`` from the shell.

The file is looked up in slices of :data:`SLICE_ROWS` rows, so a file of millions of rows needs the
memory of one slice, and a progress bar can move.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import click

from server.cli.common import fail, migrated_engine, progress_bar

#: Rows looked up at once.
SLICE_ROWS = 50_000


def _source_encoding(source: Path) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes so, else GB18030 (Excel's Chinese CSV)."""
    try:
        with source.open("r", encoding="utf-8-sig", newline="") as stream:
            while stream.read(1 << 20):
                pass
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "gb18030"


def _slices(source: Path, encoding: str) -> Iterator[tuple[bytes, int]]:
    """The file as CSV documents of at most :data:`SLICE_ROWS` rows each (header repeated), as UTF-8."""
    with source.open("r", encoding=encoding, newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader, None)
        if header is None:
            return
        rows: list[list[str]] = []
        sent = False
        for row in reader:
            rows.append(row)
            if len(rows) == SLICE_ROWS:
                yield _document(header, rows), len(rows)
                rows, sent = [], True
        if rows or not sent:  # a header alone still gets its answer (the header with the new columns)
            yield _document(header, rows), len(rows)


def _document(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _count_rows(source: Path, encoding: str) -> int:
    with source.open("r", encoding=encoding, newline="") as stream:
        return max(0, sum(1 for _ in csv.reader(stream)) - 1)


@click.command("lookup-batch")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("target", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--crs", default="cgcs2000", show_default=True,
              help="CRS of rows without a crs value: cgcs2000, wgs84, gcj02 (Amap/Tencent) or bd09 (Baidu).")
@click.option("--date", "on", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Answer for the divisions in force on this day (default today).")
@click.option("--max-rows", type=int, default=5_000_000, show_default=True)
def lookup_batch(source: Path, target: Path, crs: str, on, max_rows: int) -> None:
    """Add grid_code, micro_grid_code, community_code, match, score and error to every row of SOURCE.

    SOURCE has columns lon,lat[,crs] or address (UTF-8 with or without BOM, or GBK); TARGET is written
    as UTF-8 with BOM. Bad rows are flagged in the error column; they never stop the run.
    """
    from server.errors import WanggeError
    from server.services.lookup import LookupService

    if not source.is_file():
        fail(f"{source.name}: cannot open the file: it does not exist or is not a file")
    if source.stat().st_size == 0:
        fail(f"{source.name}: the file is empty")
    encoding = _source_encoding(source)
    total = _count_rows(source, encoding)
    if total > max_rows:
        fail(f"{source.name}: {total:,} rows; at most {max_rows:,} (--max-rows)")
    day: date | None = on.date() if on is not None else None
    partial = target.with_name(f".{target.name}.partial")
    with migrated_engine() as (engine, _):
        service = LookupService(engine, background=False, check_interval=3600)
        try:
            with partial.open("wb") as out, progress_bar(f"looking up {total:,} rows", length=total,
                                                         show_pos=True, show_eta=True) as bar:
                for number, (document, rows) in enumerate(_slices(source, encoding)):
                    answer = service.batch(document, crs, day, max_rows=SLICE_ROWS)
                    # Every slice answers with a BOM and the header: keep them from the first only.
                    out.write(answer if number == 0 else answer.decode("utf-8-sig").split("\n", 1)[1].encode())
                    bar.update(rows)
        except WanggeError as exc:
            partial.unlink(missing_ok=True)
            fail(f"{source.name}: {exc.message}")
    partial.replace(target)
    click.echo(f"{total:,} rows looked up into {target}")
