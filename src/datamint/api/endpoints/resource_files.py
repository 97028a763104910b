"""Downloading resource files: one, many (concurrently, streamed to disk), frames, and the cache.

:class:`ResourceFiles` is a part of :class:`~datamint.api.endpoints.resources_api.ResourcesApi`
over its typed core, :class:`~datamint.api.endpoints.resources_core.ResourcesCore`.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import httpx

from datamint.api.base_api import error_from_response
from datamint.api.endpoints.resources_core import ResourcesCore
from datamint.entities.resource import RESOURCE_CACHE, Resource
from datamint.exceptions import ItemNotFoundError, NetworkError

if TYPE_CHECKING:
    from PIL import Image

_CHUNK = 1 << 20


def _mimetype_of(response: httpx.Response, fallback: str | None) -> str | None:
    header = response.headers.get("content-type", "").split(";")[0].strip()
    return header or fallback


def _with_extension(path: str, mimetype: str | None, head: bytes) -> str:
    from datamint.imaging.convert import extension_for_mimetype

    ext = extension_for_mimetype(mimetype, head)
    return path if not ext or path.lower().endswith(ext) else f"{path}{ext}"


class ResourceFiles(ResourcesCore):
    """File transfer verbs of the resources handler (a part of ``ResourcesApi``)."""

    def _file_request(self, resource: str | Resource, add_path: str, accept: str) -> httpx.Response:
        rid = self._entid(resource)
        try:
            return self._make_entity_request("GET", rid, add_path=add_path,
                                             headers={"accept": accept})
        except ItemNotFoundError as err:
            err.set_params("resource", {"id": rid})
            raise

    @overload
    def download_resource_file(self, resource: str | Resource, save_path: str | None = ...,
                               auto_convert: Literal[True] = ..., add_extension: Literal[False] = ...) -> Any: ...

    @overload
    def download_resource_file(self, resource: str | Resource, save_path: str | None = ..., *,
                               auto_convert: Literal[False], add_extension: Literal[False] = ...) -> bytes: ...

    @overload
    def download_resource_file(self, resource: str | Resource, save_path: str | None = ...,
                               auto_convert: Literal[True] = ..., *,
                               add_extension: Literal[True]) -> tuple[Any, str]: ...

    @overload
    def download_resource_file(self, resource: str | Resource, save_path: str | None = ..., *,
                               auto_convert: Literal[False], add_extension: Literal[True]) -> tuple[bytes, str]: ...

    def download_resource_file(self, resource: str | Resource, save_path: str | None = None,
                               auto_convert: bool = True, add_extension: bool = False) -> Any:
        """Download a resource file.

        Args:
            resource: The resource unique id or Resource instance.
            save_path: The path to save the file.
            auto_convert: Convert to a ``pydicom.Dataset`` (DICOM), ``PIL.Image.Image`` (images),
                ``cv2.VideoCapture`` (video) or nibabel image (NIfTI); ``False`` returns bytes.
            add_extension: Add the extension of the content type (``.dcm``, ``.nii.gz``, ``.png``,
                ...) to ``save_path`` when it lacks it, and return ``(data, final_path)``.

        Returns:
            The converted object or the bytes; with ``add_extension``, a tuple of it and the path.

        Raises:
            ItemNotFoundError: If the resource does not exist.

        Example:
            >>> ds = api.resources.download_resource_file(resource)                  # pydicom Dataset
            >>> raw = api.resources.download_resource_file(resource, auto_convert=False)
            >>> api.resources.download_resource_file(resource, save_path='scan.dcm')
        """
        response = self._file_request(resource, "file", "application/octet-stream")
        data = response.content
        mimetype = _mimetype_of(response, resource.mimetype if isinstance(resource, Resource) else None)
        final_path = save_path
        if save_path is not None:
            final_path = _with_extension(str(save_path), mimetype, data[:16]) if add_extension else str(save_path)
            Path(final_path).write_bytes(data)
        result: Any = data
        if auto_convert:
            from datamint.imaging.convert import convert_bytes

            result = convert_bytes(data, mimetype)
        return (result, final_path) if add_extension else result

    async def _stream_to(self, client: httpx.AsyncClient, resource_id: str, target: Path) -> tuple[Path, str | None]:
        """Stream ``GET /resources/{id}/file`` into a temporary file next to ``target``."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".dm-download-")
        try:
            with os.fdopen(fd, "wb") as fh:
                async with client.stream("GET", f"/resources/{resource_id}/file",
                                         headers={"accept": "application/octet-stream"},
                                         timeout=httpx.Timeout(None, connect=60.0)) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        err = error_from_response(response)
                        if isinstance(err, ItemNotFoundError):
                            err.set_params("resource", {"id": resource_id})
                        raise err
                    async for chunk in response.aiter_bytes(_CHUNK):
                        fh.write(chunk)
                    mimetype = _mimetype_of(response, None)
        except httpx.TransportError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise NetworkError(f"Download of resource {resource_id} failed: {exc}") from exc
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return Path(tmp), mimetype

    def download_multiple_resources(self, resources: Sequence[str] | Sequence[Resource],
                                    save_path: Sequence[str] | str, add_extension: bool = False,
                                    overwrite: bool = True) -> list[str]:
        """Download multiple resources concurrently, streaming each to disk.

        Args:
            resources: Resource ids or Resource instances.
            save_path: One path per resource, or a directory (files are named by resource id).
            add_extension: Add the content type's extension to each path.
            overwrite: Download again files whose path already exists; ``False`` keeps them.

        Returns:
            The path of each file, in the order of ``resources`` (with extensions when added).

        Raises:
            ValueError: ``save_path`` does not have one path per resource.
            ItemNotFoundError: A resource does not exist.
        """
        if isinstance(resources, str):
            raise ValueError("resources must be a sequence of resource ids or Resource objects")
        ids = self._ids(list(resources))
        if isinstance(save_path, (str, os.PathLike)):
            paths = [str(Path(save_path) / rid) for rid in ids]
        else:
            paths = [str(p) for p in save_path]
        if len(paths) != len(ids):
            raise ValueError(f"Got {len(paths)} save paths for {len(ids)} resources; give one per resource")

        def existing(index: int) -> str | None:
            resource = resources[index]
            candidates = [paths[index]]
            if add_extension and isinstance(resource, Resource):
                candidates.append(_with_extension(paths[index], resource.mimetype, b""))
            return next((c for c in candidates if os.path.exists(c)), None)

        def make_job(index: int) -> Any:
            async def job(client: httpx.AsyncClient) -> str:
                if not overwrite and (found := existing(index)) is not None:
                    return found
                tmp, mimetype = await self._stream_to(client, ids[index], Path(paths[index]))
                final = paths[index]
                if add_extension:
                    with open(tmp, "rb") as fh:
                        final = _with_extension(final, mimetype, fh.read(16))
                os.replace(tmp, final)
                return final
            return job

        from tqdm.auto import tqdm

        with tqdm(total=len(ids), desc="Downloading resources", unit="file") as bar:
            results = self._run_concurrently([make_job(i) for i in range(len(ids))],
                                             on_done=lambda: bar.update(1))
        return [str(r) for r in results]

    def download_resource_frame(self, resource: str | Resource, frame_index: int) -> Image.Image:
        """Download one frame of a resource, rendered by the server as PNG.

        DICOM frames come with their rescale and window/level applied; NIfTI frames are slices
        along the third axis; videos give their decoded frame; images their page.

        Args:
            resource: The resource unique id or Resource object.
            frame_index: The 0-based index of the frame.

        Returns:
            The frame as a PIL image.

        Raises:
            ItemNotFoundError: If the resource does not exist.
            ValidationError: ``frame_index`` is out of range.
        """
        from PIL import Image

        response = self._file_request(resource, f"frames/{int(frame_index)}", "image/*")
        image = Image.open(io.BytesIO(response.content))
        image.load()
        return image

    def cache_resources(self, resources: Sequence[Resource], progress_bar: bool = True) -> None:
        """Cache multiple resources in parallel, skipping already cached ones.

        Files go to ``<data dir>/resources/<id>/`` and stay valid while the resource's
        ``created_at``, ``deleted_at`` and ``size`` are unchanged (wire protocol §3.5).

        Args:
            resources: Sequence of Resource instances to cache.
            progress_bar: Whether to show a progress bar.

        Example:
            >>> resources = api.resources.get_list(limit=100)
            >>> api.resources.cache_resources(resources)
        """
        from tqdm.auto import tqdm

        from datamint.imaging.convert import extension_for_mimetype

        todo = [r for r in resources if not r.is_cached()]

        def make_job(resource: Resource) -> Any:
            async def job(client: httpx.AsyncClient) -> Path:
                folder = RESOURCE_CACHE.entity_dir(resource.id)
                tmp, mimetype = await self._stream_to(client, resource.id, folder / "download")
                with open(tmp, "rb") as fh:
                    suffix = extension_for_mimetype(mimetype or resource.mimetype, fh.read(16))
                return RESOURCE_CACHE.save(resource.id, resource._version(), tmp, suffix,
                                           {"mimetype": mimetype or resource.mimetype})
            return job

        with tqdm(total=len(todo), desc="Caching resources", unit="files", disable=not progress_bar) as bar:
            self._run_concurrently([make_job(r) for r in todo],
                                   on_done=lambda: bar.update(1))
