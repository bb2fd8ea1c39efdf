"""Module images: PNG, JPEG or WebP in 16:9 (±1 %), at least 1280×720, at most 5 MB — re-encoded without metadata.

The header is read first and the size checked against a pixel budget before any pixel is
decoded (an image bomb declares a huge canvas in a small file). What is stored is a fresh JPEG
built from the pixels only: EXIF, ICC profiles, comments and anything appended to the file are
gone. Every refusal says what is wrong and what is expected, in Russian, for the developer.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from .errors import Refused

FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}
MIN_WIDTH, MIN_HEIGHT = 1280, 720
RATIO = 16 / 9
TOLERANCE = 0.01
MAX_STORED_WIDTH = 1920  # larger images are scaled down: the page shows them at most this wide
EXPECTED = "Нужно изображение PNG, JPEG или WebP в пропорции 16:9 (например, 1280×720 или 1920×1080), не больше 5 МБ."


class ImageRejected(Refused):
    """The image cannot be used; the message is for the developer."""


EXTENSIONS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}


def normalise_image(data: bytes, *, max_bytes: int, max_pixels: int, filename: str = "") -> bytes:
    """The stored form of an uploaded module image (JPEG), or ImageRejected saying why not.

    ``filename``'s extension, when it names an image format, must match the file's content.
    """
    if len(data) > max_bytes:
        raise ImageRejected(f"Файл {len(data) / 1048576:.1f} МБ — больше {max_bytes // 1048576} МБ. {EXPECTED}")
    head = data[:512].lstrip().lower()
    if head.startswith((b"<?xml", b"<svg", b"<!doctype")) or b"<svg" in head:
        raise ImageRejected(f"SVG не принимается (в нём может быть скрипт). {EXPECTED}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(FORMATS))
            width, height = image.size
            claimed = EXTENSIONS.get(filename.rsplit(".", 1)[-1].lower()) if "." in filename else None
            if claimed is not None and claimed != image.format:
                raise ImageRejected(
                    f"Файл назван .{filename.rsplit('.', 1)[-1]}, но внутри {image.format}: сохраните файл заново. {EXPECTED}"
                )
            if width * height > max_pixels:
                raise ImageRejected(
                    f"Изображение {width}×{height} слишком большое (больше {max_pixels // 1_000_000} Мп). {EXPECTED}"
                )
            _check_shape(width, height)
            image.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(
            f"Изображение слишком большое (больше {max_pixels // 1_000_000} Мп): похоже на бомбу. {EXPECTED}"
        ) from None
    except UnidentifiedImageError:
        raise ImageRejected(f"Файл не является изображением PNG, JPEG или WebP (или повреждён). {EXPECTED}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(
            f"Изображение не читается ({exc.__class__.__name__}): файл повреждён или обрезан. {EXPECTED}"
        ) from None
    rgb = image.convert("RGB")
    if width > MAX_STORED_WIDTH:
        rgb = rgb.resize((MAX_STORED_WIDTH, round(height * MAX_STORED_WIDTH / width)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=88, optimize=True)
    return out.getvalue()


def _check_shape(width: int, height: int) -> None:
    if abs(width / height - RATIO) / RATIO > TOLERANCE:
        raise ImageRejected(f"Пропорции {width}×{height} — не 16:9 (допуск ±1 %). {EXPECTED}")
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        raise ImageRejected(f"Изображение {width}×{height} меньше минимума 1280×720. {EXPECTED}")
