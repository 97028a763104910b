"""Tables of resources (uploaded files), their tags, their project memberships and in-flight uploads.

A channel is not a table: it is the ``upload_channel`` string of the resources uploaded to it.

Every listing filter of ``GET /resources`` has an index that starts with ``customer_id`` (all
queries are scoped to one organization), so listings stay fast with hundreds of thousands of rows.
Tags live in their own table (``resource_tags``) so that tag filters use a B-tree index on both
SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from datamint.server.db.base import Base, JsonType, UtcDateTime, created_at_column, id_column


class Resource(Base):
    """One uploaded file (DICOM, NIfTI, image, video, ...) and what the server derived from it.

    The original bytes are in the blob store under :attr:`location`; nothing here changes them.
    Deleting is soft (``deleted``/``deleted_at``/``deleted_by``) and can be undone.
    """

    __tablename__ = "resources"
    __table_args__ = (
        # Every listing filters on (customer_id, deleted) first and orders by (created_at, id): the
        # filters that narrow a listing lead to the rows in order without a sort step, and the
        # count of a filtered listing reads the index only.
        Index("ix_resources_customer_id_deleted_created_at_id", "customer_id", "deleted", "created_at", "id"),
        *(Index(f"ix_resources_customer_id_deleted_{column}_created_at_id", "customer_id", "deleted", column,
                "created_at", "id") for column in ("status", "modality", "mimetype", "upload_channel")),
        # The web app filters on status and modality together (0017_listing).
        Index("ix_resources_customer_id_deleted_status_modality_created_at_id", "customer_id", "deleted",
              "status", "modality", "created_at", "id"),
        *(Index(f"ix_resources_customer_id_deleted_{column}", "customer_id", "deleted", column)
          for column in ("filename", "source_filepath", "series_uid", "created_by", "published_on",
                         "published_by", "content_sha256", "source_sha256")),
    )

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    storage: Mapped[str] = mapped_column(String(40))
    location: Mapped[str] = mapped_column(String(1024))
    filename: Mapped[str] = mapped_column(String(255))
    mimetype: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    modality: Mapped[str | None] = mapped_column(String(64))
    file_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JsonType, default=dict)
    source_filepath: Mapped[str | None] = mapped_column(String(1024))
    upload_channel: Mapped[str] = mapped_column(String(300), default="")
    upload_mechanism: Mapped[str] = mapped_column(String(20), default="api")
    created_at: Mapped[datetime] = created_at_column()
    created_by: Mapped[str] = mapped_column(String(320))
    created_by_id: Mapped[str] = mapped_column(String(36))
    published: Mapped[bool] = mapped_column(default=False)
    published_on: Mapped[datetime | None]
    published_by: Mapped[str | None] = mapped_column(String(320))
    deleted: Mapped[bool] = mapped_column(default=False)
    deleted_at: Mapped[datetime | None]
    deleted_by: Mapped[str | None] = mapped_column(String(320))
    instance_uid: Mapped[str | None] = mapped_column(String(128))
    series_uid: Mapped[str | None] = mapped_column(String(128))
    study_uid: Mapped[str | None] = mapped_column(String(128))
    patient_id: Mapped[str | None] = mapped_column(String(128))
    #: SHA-256 of the stored bytes, computed by the server while receiving them (``None`` for
    #: resources uploaded before it was recorded). Duplicate uploads are found by it.
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    #: SHA-256 of the original file(s) as the uploader had them, declared by the SDK when it rewrote
    #: them before sending (anonymized or assembled DICOM); see :mod:`.duplicates`.
    source_sha256: Mapped[str | None] = mapped_column(String(64))


class ResourceTag(Base):
    """A tag of a resource; ``position`` keeps the order in which tags were given.

    ``customer_id``, ``deleted`` and ``created_at`` are copies of the resource's, written by the
    database (triggers of migration 0019_listing_tags, on insert and whenever the resource's
    values change: soft delete, restore), never by this code: a tag filter's count and page read
    the ``(customer_id, deleted, tag, created_at, resource_id)`` index alone.
    """

    __tablename__ = "resource_tags"
    __table_args__ = (
        Index("ix_resource_tags_tag_resource_id", "tag", "resource_id"),
        Index("ix_resource_tags_customer_id_deleted_tag_created_at_resource_id", "customer_id", "deleted", "tag",
              "created_at", "resource_id"),
        # A listing page writes each resource's tags in order from this index (0020_listing_tag_order).
        Index("ix_resource_tags_resource_id_position_tag", "resource_id", "position", "tag"),
    )

    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Filled by the database (FetchedValue: the ORM never writes them and reads them back when asked).
    customer_id: Mapped[str | None] = mapped_column(String(36), server_default=FetchedValue())
    deleted: Mapped[bool | None] = mapped_column(server_default=FetchedValue())
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), server_default=FetchedValue())


class ResourceTimeCount(Base):
    """How many resources of an organization (deleted or not) were created in one UTC day, minute
    or second (``level`` 0, 1, 2; ``bucket``: ``created_at`` truncated to it).

    Kept by the database (triggers of migration 0021_listing_positions on every insert, delete and
    change of a resource's ``customer_id``, ``deleted`` or ``created_at``), never by this code; a
    row whose count falls to 0 is removed. A deep ``offset`` of the listing ordered by creation
    time sums these counts to find the second its page starts in (``resources.positions``)
    instead of walking the listing index over every row before it.
    """

    __tablename__ = "resource_time_counts"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - SQLAlchemy reads this class attribute

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    deleted: Mapped[bool] = mapped_column(primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    bucket: Mapped[datetime] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class ProjectResource(Base):
    """Membership of a resource in a project (wire: ``POST /projects/{id}/resources``)."""

    __tablename__ = "project_resources"
    __table_args__ = (Index("ix_project_resources_resource_id", "resource_id"),)

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime] = created_at_column()
    added_by: Mapped[str] = mapped_column(String(320))


class UploadIntent(Base):
    """An upload whose blob may exist while its resource row does not yet.

    Written and committed *before* the blob is stored, and deleted in the same transaction that
    inserts the resource row. A server killed in between leaves an intent behind; the janitor
    (:mod:`datamint.server.resources.janitor`) deletes its blob and the intent once it is older than
    the configured age, so no orphan blob survives a crash.
    """

    __tablename__ = "resource_upload_intents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    blob_key: Mapped[str] = mapped_column(String(1024))
    started_at: Mapped[datetime] = created_at_column()


# -- the DICOM index: studies, series and instances of the DICOM resources ---------------------
#
# Filled at upload (``resources.dicom_index``) from the parse that checks the file; read by
# DICOMweb (QIDO-RS, WADO-RS metadata) and DIMSE C-FIND, which never open the stored files to
# answer a query. Study and series rows hold the attributes shared by their instances (the first
# instance's values); instance rows belong to exactly one resource and go with it.


class DicomStudy(Base):
    """A study of an organization, as its first received instance described it."""

    __tablename__ = "dicom_studies"
    __table_args__ = (
        *(Index(f"ix_dicom_studies_customer_id_{column}", "customer_id", column)
          for column in ("study_date", "patient_id", "patient_name_key", "accession_number", "created_at")),
    )

    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    study_uid: Mapped[str] = mapped_column(String(128), primary_key=True)
    patient_name: Mapped[str | None] = mapped_column(String(324))
    patient_name_key: Mapped[str | None] = mapped_column(String(400))
    patient_id: Mapped[str | None] = mapped_column(String(64))
    patient_birth_date: Mapped[str | None] = mapped_column(String(8))
    patient_sex: Mapped[str | None] = mapped_column(String(16))
    study_date: Mapped[str | None] = mapped_column(String(8))
    study_time: Mapped[str | None] = mapped_column(String(16))
    accession_number: Mapped[str | None] = mapped_column(String(16))
    study_id: Mapped[str | None] = mapped_column(String(16))
    study_description: Mapped[str | None] = mapped_column(String(64))
    referring_physician_name: Mapped[str | None] = mapped_column(String(324))
    created_at: Mapped[datetime] = created_at_column()


class DicomSeries(Base):
    """A series of an organization, as its first received instance described it."""

    __tablename__ = "dicom_series"
    __table_args__ = (Index("ix_dicom_series_customer_id_study_uid_series_number", "customer_id", "study_uid",
                            "series_number"),
                      Index("ix_dicom_series_customer_id_modality", "customer_id", "modality"))

    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    series_uid: Mapped[str] = mapped_column(String(128), primary_key=True)
    study_uid: Mapped[str] = mapped_column(String(128))
    modality: Mapped[str | None] = mapped_column(String(16))
    series_number: Mapped[int | None] = mapped_column(Integer)
    series_description: Mapped[str | None] = mapped_column(String(64))
    body_part_examined: Mapped[str | None] = mapped_column(String(16))
    series_date: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = created_at_column()


class DicomInstance(Base):
    """The DICOM identity and header of one resource.

    ``header`` holds the file's bytes before its Pixel Data, copied at upload; the first metadata
    request turns it into DICOM JSON (``header_json``, with the instance URL left as a marker)
    and drops the bytes.
    """

    __tablename__ = "dicom_instances"
    __table_args__ = (
        Index("ix_dicom_instances_customer_id_study_uid_series_uid", "customer_id", "study_uid", "series_uid",
              "instance_number"),
        Index("ix_dicom_instances_customer_id_series_uid", "customer_id", "series_uid", "instance_number"),
        Index("ix_dicom_instances_customer_id_instance_uid", "customer_id", "instance_uid"),
    )

    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    study_uid: Mapped[str] = mapped_column(String(128))
    series_uid: Mapped[str] = mapped_column(String(128))
    instance_uid: Mapped[str] = mapped_column(String(128))
    sop_class_uid: Mapped[str | None] = mapped_column(String(128))
    instance_number: Mapped[int | None] = mapped_column(Integer)
    number_of_frames: Mapped[int] = mapped_column(Integer, default=1)
    rows: Mapped[int | None] = mapped_column(Integer)
    columns: Mapped[int | None] = mapped_column(Integer)
    transfer_syntax_uid: Mapped[str | None] = mapped_column(String(128))
    header: Mapped[bytes | None] = mapped_column(LargeBinary)
    header_json: Mapped[str | None] = mapped_column(Text)


class DicomReceiveSettings(Base):
    """How an organization receives DICOM over the network (STOW-RS and C-STORE).

    ``uid_secret`` keys the anonymizer, so the same study sent twice (or in several requests)
    gets the same new UIDs. C-STORE stores as ``receiver_id`` (the admin who last saved the
    settings) into ``project_id``/``channel``.
    """

    __tablename__ = "dicom_receive_settings"

    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    anonymize: Mapped[bool] = mapped_column(default=False)
    assemble: Mapped[bool] = mapped_column(default=False)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(300), default="")
    receiver_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    uid_secret: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = created_at_column()


class DicomAeTitle(Base):
    """A calling AE title allowed to send to the server's DICOM listener, and its organization.

    The title is the primary key: one sender belongs to exactly one organization.
    """

    __tablename__ = "dicom_ae_titles"
    __table_args__ = (Index("ix_dicom_ae_titles_customer_id", "customer_id"),)

    ae_title: Mapped[str] = mapped_column(String(16), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))


class UploadIdempotency(Base):
    """The resource an upload with an ``Idempotency-Key`` created, so a retry gets it back.

    One row per user and key (a unique constraint): of several requests with the same key, only
    the first to commit creates a resource; the others (retries after a lost answer, or copies
    sent at the same moment) answer with that resource. Inserted in the transaction that inserts
    the resource row, deleted with the resource, and swept after ``idempotency_hours``.
    """

    __tablename__ = "upload_idempotency"
    __table_args__ = (UniqueConstraint("user_id", "idem_key", name="uq_upload_idempotency_user_id_idem_key"),
                      Index("ix_upload_idempotency_created_at", "created_at"))

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    idem_key: Mapped[str] = mapped_column(String(255))
    content_sha256: Mapped[str] = mapped_column(String(64))
    request_sha256: Mapped[str | None] = mapped_column(String(64))
    """The upload's other fields (:func:`.idempotency.request_fingerprint`); none before 0022."""
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    duplicate_of: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = created_at_column()
