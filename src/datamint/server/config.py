"""Server settings, read from ``DATAMINT_SERVER_*`` environment variables or passed in directly.

Nothing here is read at import time: the CLI (or a test) builds a :class:`Settings` and hands it to
:func:`datamint.server.app.create_app`.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Annotated

from platformdirs import user_data_dir
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from datamint.imaging.limits import DecodeLimits
from datamint.server.transport.clients import parse_networks


def default_data_dir() -> Path:
    """The folder used when no ``data_dir`` is given: the user's data directory for Datamint."""
    return Path(user_data_dir("datamint-server", appauthor=False))


class Settings(BaseSettings):
    """Everything the server needs to start.

    Attributes:
        data_dir: Folder for the embedded defaults (SQLite file, blob folder, logs).
        database_url: SQLAlchemy URL. Defaults to ``sqlite:///<data_dir>/datamint.sqlite3`` (WAL mode).
            For PostgreSQL use ``postgresql+psycopg://user@host:5432/db``.
        storage_url: Where file bytes go. Defaults to the folder ``<data_dir>/blobs``;
            ``s3://bucket/prefix?endpoint_url=...`` for S3 or any S3-compatible store.
        s3_endpoint_url: Endpoint of an S3-compatible store (MinIO, Ceph...) when ``storage_url`` is
            ``s3://`` and the URL does not carry ``endpoint_url`` itself.
        max_upload_mb: Largest accepted request body for uploads, in MiB (413 above it).
        max_json_mb: Largest accepted JSON request body, in MiB.
        max_small_body_kb: Largest body of a route that expects none (and of any route that needs
            no API key: sign-in, invitations), in KiB; also how much of an anonymous request's body
            is read before it is refused (larger ones are not read: the connection is closed).
        max_header_kb: Largest request line plus headers, in KiB (431 above it).
        max_form_fields: Most text fields in one multipart form (413 above it).
        max_form_text_kb: Most bytes of all the text fields of one multipart form together, in KiB.
        trusted_proxies: Addresses or networks (``10.0.0.5``, ``10.0.0.0/8``) of reverse proxies
            whose ``X-Forwarded-For`` header names the real client; from anybody else the header is
            ignored. Env: a JSON list or comma-separated. Empty (the default): never trusted.
        idempotency_hours: How long an upload's ``Idempotency-Key`` is remembered (a retry within
            it returns the first upload's resource).
        spool_max_age_minutes: Leftover upload spool files (a crash mid-upload) older than this are
            deleted when the server starts.
        host: Interface to bind. port: TCP port.
        admin_email: Email of the admin user created on first start.
        admin_api_key: The admin's API key on first start; generated and printed when unset.
        organization_name: Name of the organization created on first start.
        log_level: Python logging level name for the request log.
        auth_failures_per_minute: Failed authentications (bad keys, bad invitation tokens) one
            client address may make per minute before it gets 429 with ``Retry-After``.
        invitation_ttl_hours: How long an invitation link stays valid.
        session_hours: How long a web app sign-in lasts before the user must sign in again.
        orphan_upload_minutes: An upload whose blob was stored but whose resource row never got
            committed (the server died in between) is cleaned up once it is this old.
        orphan_sweep_interval_s: Minimum seconds between two orphan-upload sweeps (one also runs
            at start-up).
        queue_url: Where jobs are queued. Unset (the embedded default): an in-process queue and
            ``job_threads`` workers inside the server. ``redis://host:6379/0``: jobs go to Redis and
            separate ``datamint server worker`` processes run them (the server runs none).
        queue_namespace: Prefix of the queue's Redis keys (several installations can share a Redis).
        job_threads: Jobs one process runs at once: the server's own workers on the embedded
            default, or each ``datamint server worker`` process (its ``--threads`` overrides it).
        job_lease_s: A running job's lease: its worker renews it every third of this; a job whose
            lease ran out (its worker was killed) is re-queued, or failed after its last attempt.
        job_sweep_interval_s: Seconds between two sweeps for expired leases and undelivered jobs.
        job_redispatch_s: A job still queued this long after it was sent is sent again (its message
            was lost, e.g. Redis was flushed); duplicates are harmless.
        max_frame_pixels: Largest image frame (rows x columns; a NIfTI slice) any request may
            decode; a file whose header announces more is refused (413) before decoding.
        max_frames: Most frames (DICOM frames, NIfTI slices x volumes, image pages) in one file.
        max_decoded_mb: Largest decoded size of one file, all frames together, in MiB (also the most
            a deflated DICOM or a gzip NIfTI is ever inflated).
        max_spec_kb: Largest annotation-spec / segmentation-group document once parsed, in KiB
            (YAML aliases are refused outright). See ``docs/security.md``, "Decoded-size limits".
        public_url: The URL clients reach the server at, used for links in answers. Invitation
            links (sent on to other people) are built from it, never from a request's ``Host``
            header (which the client chooses); unset, they use ``http://<host>:<port>`` of these
            settings (the machine's name when bound to every interface). DICOMweb retrieve and
            bulk data URLs, which only go back to the client that asked, fall back to the scheme
            and ``Host`` of each request.
        volume_cache_mb: Size of ``<data_dir>/cache/volumes``, where the viewer's decoded volumes
            are kept (decompressed ``.nii.gz``, DICOM series decoded for sagittal and coronal
            slices); least recently used volumes are deleted above it.
        dicom_enabled: Start the DICOM listener (C-STORE, C-ECHO, C-FIND) with the server.
        dicom_ae_title: The listener's own AE title. dicom_host, dicom_port: where it listens.
        mlflow_database_url: Database of MLflow's tracking and registry stores. Defaults to the
            file ``mlflow.db`` beside the SQLite database, or the schema ``mlflow`` of the
            PostgreSQL database (see ``docs/models.md``).
        model_envs_dir: Where the isolated environments of deployed models are built and kept
            (default ``<data_dir>/model-envs``; see ``docs/models.md``, "Serving environment").
            Servers and workers on one machine may share it.
        mlflow_warmup: Prepare MLflow's stores (import, migrations) in the background when the
            server starts, so the first MLflow call does not wait for them (tests turn it off).
    """

    model_config = SettingsConfigDict(env_prefix="DATAMINT_SERVER_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    storage_url: str | None = None
    s3_endpoint_url: str | None = None
    max_upload_mb: int = Field(default=2048, ge=1)
    max_json_mb: int = Field(default=32, ge=1)
    max_small_body_kb: int = Field(default=64, ge=1, le=1024 * 1024)
    max_header_kb: int = Field(default=32, ge=1, le=1024)
    max_form_fields: int = Field(default=64, ge=1, le=10000)
    max_form_text_kb: int = Field(default=4096, ge=1)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    spool_max_age_minutes: float = Field(default=30, ge=0)
    idempotency_hours: float = Field(default=24, gt=0)
    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=0, le=65535)
    admin_email: str = "admin@datamint.local"
    admin_api_key: str | None = None
    organization_name: str = "Default organization"
    log_level: str = "INFO"
    auth_failures_per_minute: int = Field(default=30, ge=1)
    invitation_ttl_hours: int = Field(default=168, ge=1)
    session_hours: int = Field(default=12, ge=1)
    orphan_upload_minutes: float = Field(default=60, ge=0)
    orphan_sweep_interval_s: float = Field(default=600, ge=0)
    queue_url: str | None = None
    queue_namespace: str = Field(default="datamint", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    job_threads: int = Field(default=2, ge=0, le=64)
    job_lease_s: float = Field(default=60, ge=0.5)
    job_sweep_interval_s: float = Field(default=15, gt=0)
    job_redispatch_s: float = Field(default=600, gt=0)
    public_url: str | None = None
    max_frame_pixels: int = Field(default=32 * 1024 * 1024, ge=1)
    max_frames: int = Field(default=65536, ge=1)
    max_decoded_mb: int = Field(default=1024, ge=1)
    max_spec_kb: int = Field(default=1024, ge=1)
    volume_cache_mb: int = Field(default=8192, ge=1)
    dicom_enabled: bool = False
    dicom_ae_title: str = Field(default="DATAMINT", min_length=1, max_length=16)
    dicom_host: str = "127.0.0.1"
    dicom_port: int = Field(default=11112, ge=0, le=65535)
    mlflow_database_url: str | None = None
    mlflow_warmup: bool = True
    model_envs_dir: Path | None = None

    @field_validator("data_dir", mode="before")
    @classmethod
    def _expand(cls, value: object) -> object:
        if isinstance(value, (str, Path)):
            return Path(value).expanduser()
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:

        parse_networks(value)  # raises ValueError naming a bad entry
        return value

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file inside ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'datamint.sqlite3').resolve()}"

    @property
    def resolved_model_envs_dir(self) -> Path:
        """The folder of the deployed models' environments, defaulting to ``model-envs`` inside ``data_dir``."""
        return (self.model_envs_dir or self.data_dir / "model-envs").expanduser().resolve()

    @property
    def resolved_storage_url(self) -> str:
        """The blob storage URL, defaulting to the ``blobs`` folder inside ``data_dir``."""
        if self.storage_url:
            return self.storage_url
        return str((self.data_dir / "blobs").resolve())

    @property
    def decode_limits(self) -> DecodeLimits:
        """The decoded-size limits of :mod:`datamint.imaging.limits`, named by their settings in messages."""
        return DecodeLimits(max_frame_pixels=self.max_frame_pixels, max_frames=self.max_frames,
                            max_decoded_mb=self.max_decoded_mb, max_spec_kb=self.max_spec_kb,
                            setting_prefix="DATAMINT_SERVER_")

    @property
    def public_base_url(self) -> str:
        """The server's URL for links other people follow (invitations): ``public_url``, else the
        configured host and port; never anything a request chose."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host if self.host not in ("", "0.0.0.0", "::", "[::]") else socket.getfqdn()  # noqa: S104
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def max_upload_bytes(self) -> int:
        """``max_upload_mb`` in bytes."""
        return self.max_upload_mb * 1024 * 1024

    @property
    def max_json_bytes(self) -> int:
        """``max_json_mb`` in bytes."""
        return self.max_json_mb * 1024 * 1024

    @property
    def max_small_body_bytes(self) -> int:
        """``max_small_body_kb`` in bytes."""
        return self.max_small_body_kb * 1024

    @property
    def max_header_bytes(self) -> int:
        """``max_header_kb`` in bytes."""
        return self.max_header_kb * 1024

    @property
    def max_form_text_bytes(self) -> int:
        """``max_form_text_kb`` in bytes."""
        return self.max_form_text_kb * 1024
