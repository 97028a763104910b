"""Videos, decoded locally with OpenCV."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from datamint.entities.resource import Resource

if TYPE_CHECKING:
    import numpy as np


class VideoResource(Resource):
    """A video (MP4, AVI, WebM, ...); frames are decoded from the cached file."""

    storage_aliases: ClassVar[tuple[str, ...]] = ("VideoResource", "VideoResourceHandler")
    mimetype_prefixes: ClassVar[tuple[str, ...]] = ("video/",)

    def _stream(self) -> dict[str, Any] | None:
        for stream in self.metadata.get("streams") or []:
            if isinstance(stream, dict) and stream.get("codec_type") == "video":
                return stream
        return None

    @property
    def frame_count(self) -> int:
        """Number of frames."""
        return self.get_depth()

    @property
    def width(self) -> int | None:
        """Frame width in pixels."""
        return self._coerce_int(self.metadata.get("width") or (self._stream() or {}).get("width"))

    @property
    def height(self) -> int | None:
        """Frame height in pixels."""
        return self._coerce_int(self.metadata.get("height") or (self._stream() or {}).get("height"))

    def get_depth(self) -> int:
        """Number of frames, from ``frame_count`` or the video stream's ``nb_frames``.

        Raises:
            ValueError: Neither is known.
        """
        count = self._coerce_int(self.metadata.get("frame_count"))
        if count is None:
            count = self._coerce_int((self._stream() or {}).get("nb_frames"))
        if count is None:
            raise ValueError(f"Cannot determine the frame count of video {self.filename!r}")
        return count

    def _capture(self) -> Any:
        import cv2

        self.fetch_file_data(auto_convert=False, use_cache=True)
        path = self.filepath_cached
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            raise ValueError(f"OpenCV cannot open the video {self.filename!r}")
        return capture

    def get_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based) as an RGB ``uint8`` array ``(height, width, 3)``.

        Raises:
            IndexError: ``index`` is out of range.
        """
        import cv2

        capture = self._capture()
        try:
            if index < 0 or index >= self.get_depth():
                raise IndexError(f"frame {index} is out of range: 0..{self.get_depth() - 1}")
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = capture.read()
            if not ok:
                raise IndexError(f"frame {index} cannot be decoded")
            return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()

    def iter_frames(self) -> Iterator[np.ndarray]:
        """Every frame in order, as RGB ``uint8`` arrays."""
        import cv2

        capture = self._capture()
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()
