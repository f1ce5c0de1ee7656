"""Photos sent with an event report: checked, turned upright and re-encoded with no metadata.

A phone photo carries EXIF: the GPS position of the resident's home, the phone's make and serial, the
time. None of it may be published or kept, so every photo is decoded and encoded again (JPEG stays
JPEG, PNG stays PNG), which keeps only the pixels. The orientation tag is applied first, so the picture
stays the right way up without it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from gis.errors import InputError

MAX_PHOTOS = 3
MAX_BYTES = 5 * 1024 * 1024
#: Decoded size refused beyond this (a 5 MB file can unpack into gigabytes: a decompression bomb).
MAX_PIXELS = 40_000_000
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}
FIELD = "photos"


@dataclass(frozen=True)
class Photo:
    """A cleaned photo: its bytes (no metadata), media type and size in pixels."""

    data: bytes
    content_type: str
    width: int
    height: int


def _fail(zh: str, en: str) -> InputError:
    return InputError(f"{zh} / {en}", field=FIELD)


def clean_photo(data: bytes, name: str = "") -> Photo:
    """One uploaded file → a :class:`Photo` with EXIF and every other metadata removed.

    Raises
    ------
    InputError
        Field ``photos``: empty, over 5 MB, not a JPEG or PNG image, too many pixels, or unreadable;
        the message names the file.
    """
    label = f"“{name}”" if name else "照片"
    label_en = repr(name) if name else "a photo"
    if not data:
        raise _fail(f"{label}是空文件", f"{label_en} is empty")
    if len(data) > MAX_BYTES:
        raise _fail(f"{label}大小为 {len(data) / 1048576:.1f} MB，每张照片最大 5 MB",
                    f"{label_en} is {len(data) / 1048576:.1f} MB; each photo may be at most 5 MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            kind = image.format
            if kind not in FORMATS:
                raise _fail(f"{label}不是 JPEG 或 PNG 图片", f"{label_en} is not a JPEG or PNG image")
            if image.width * image.height > MAX_PIXELS:
                raise _fail(f"{label}像素过多（{image.width}×{image.height}）",
                            f"{label_en} has too many pixels ({image.width}×{image.height})")
            image.load()
            upright = ImageOps.exif_transpose(image)
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError):
        raise _fail(f"{label}不是可读的 JPEG 或 PNG 图片", f"{label_en} is not a readable JPEG or PNG image") from None
    return _encode(upright, kind)


def _encode(image: Image.Image, kind: str) -> Photo:
    """Encode the pixels alone (no EXIF, no ICC comments, no text chunks)."""
    out = io.BytesIO()
    if kind == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, format="JPEG", quality=88, optimize=True)
    else:
        if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            image = image.convert("RGBA")
        image.save(out, format="PNG", optimize=True)
    return Photo(out.getvalue(), FORMATS[kind], image.width, image.height)


def clean_photos(files: list[tuple[str, bytes]]) -> list[Photo]:
    """All photos of a report, checked before any is stored: at most :data:`MAX_PHOTOS`.

    Parameters
    ----------
    files
        ``(file name, bytes)`` as uploaded; empty file inputs (no file chosen) are left out.
    """
    files = [(name, data) for name, data in files if name or data]
    if len(files) > MAX_PHOTOS:
        raise _fail(f"最多 {MAX_PHOTOS} 张照片，收到 {len(files)} 张",
                    f"at most {MAX_PHOTOS} photos; got {len(files)}")
    return [clean_photo(data, name) for name, data in files]
