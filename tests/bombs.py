"""Hostile files for the import tests: zip bombs and Shapefiles with text in awkward encodings."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np

CGCS2000_PRJ = ('GEOGCS["China Geodetic Coordinate System 2000",DATUM["China_2000",SPHEROID["CGCS2000",'
                '6378137,298.257222101]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]')


def _shp_header(file_words: int, bbox: tuple[float, float, float, float]) -> bytes:
    return (struct.pack(">7i", 9994, 0, 0, 0, 0, 0, file_words) + struct.pack("<2i", 1000, 1)
            + struct.pack("<4d", *bbox) + struct.pack("<4d", 0, 0, 0, 0))


def point_shapefile_bomb(path: Path, features: int, x: float = 120.0, y: float = 31.7) -> Path:
    """A zipped point Shapefile of ``features`` identical points: a few MB zipped, far more inflated."""
    records = np.zeros(features, dtype=[("number", ">i4"), ("words", ">i4"), ("type", "<i4"), ("x", "<f8"),
                                        ("y", "<f8")])
    records["number"] = np.arange(1, features + 1)
    records["words"], records["type"], records["x"], records["y"] = 10, 1, x, y
    bbox = (x, y, x, y)
    shp = _shp_header(50 + features * 14, bbox) + records.tobytes()
    index = np.zeros(features, dtype=[("offset", ">i4"), ("words", ">i4")])
    index["offset"] = 50 + np.arange(features) * 14
    index["words"] = 10
    shx = _shp_header(50 + features * 4, bbox) + index.tobytes()
    dbf = io.BytesIO()
    dbf.write(struct.pack("<4BIHH20x", 3, 126, 1, 1, features, 32 + 32 + 1, 1 + 1))
    dbf.write(b"name".ljust(11, b"\x00") + b"C" + b"\x00" * 4 + bytes([1, 0]) + b"\x00" * 14)
    dbf.write(b"\x0d")
    dbf.write(b" a" * features)
    dbf.write(b"\x1a")
    # Level 1: level 9 takes minutes over such repetitive data, for little gain.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("bomb.shp", shp)
        archive.writestr("bomb.shx", shx)
        archive.writestr("bomb.dbf", dbf.getvalue())
        archive.writestr("bomb.prj", CGCS2000_PRJ)
    return path


def zeros_bomb(path: Path, megabytes: int) -> Path:
    """A zip whose one member inflates to ``megabytes`` MB of zeros (about 1,000 times its size)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("drawing.geojson", "w", force_zip64=True) as member:
            block = b"\x00" * 2**20
            for _ in range(megabytes):
                member.write(block)
    return path


def many_members(path: Path, members: int) -> Path:
    """A zip of ``members`` empty files."""
    with zipfile.ZipFile(path, "w") as archive:
        for number in range(members):
            archive.writestr(f"part{number}.txt", b"")
    return path
