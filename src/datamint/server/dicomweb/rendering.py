"""Rendered images (PS3.18 8.3.5): media type from ``Accept``, the ``window`` and ``quality`` parameters."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from datamint.server.errors import NotAcceptableError, ValidationFailedError

MEDIA = ("image/jpeg", "image/png")
_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


def choose_media(accept: str) -> str:
    """The first of JPEG and PNG that ``accept`` allows (JPEG when it allows anything); 406 otherwise."""
    wanted = [part.split(";")[0].strip().lower() for part in (accept or "").split(",") if part.strip()]
    if not wanted:
        return MEDIA[0]
    for media in wanted:
        if media in MEDIA:
            return media
        if media in ("*/*", "image/*"):
            return MEDIA[0]
    raise NotAcceptableError(f"Rendered images are image/jpeg or image/png; the request accepts only {accept!r}")


def parse_window(text: str | None) -> tuple[float, float, str] | None:
    """``"40,400,linear"`` → ``(40.0, 400.0, "LINEAR")``; 422 when malformed."""
    if not text:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        center, width = float(parts[0]), float(parts[1])
    except (ValueError, IndexError):
        raise ValidationFailedError(f"Invalid window {text!r}: use center,width[,function] such as 40,400,linear")
    function = (parts[2] if len(parts) > 2 else "LINEAR").upper()
    if not (math.isfinite(center) and math.isfinite(width)):  # float() takes nan and inf
        raise ValidationFailedError(f"Invalid window {text!r}: center and width must be finite numbers")
    if len(parts) > 3 or function not in _FUNCTIONS or width <= 0 or (function == "LINEAR" and width < 1):
        raise ValidationFailedError(f"Invalid window {text!r}: width must be positive (>= 1 for linear) and "
                                    f"the function one of {', '.join(f.lower() for f in _FUNCTIONS)}")
    return center, width, function


def encode(image: np.ndarray, media: str, quality: int | None) -> bytes:
    """``image`` (uint8, grey or RGB) as JPEG or PNG bytes."""
    buffer = io.BytesIO()
    picture = Image.fromarray(image)
    if media == "image/png":
        picture.save(buffer, format="PNG")
    else:
        picture.save(buffer, format="JPEG", quality=quality or 90)
    return buffer.getvalue()
