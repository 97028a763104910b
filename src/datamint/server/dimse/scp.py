"""The DICOM listener: C-ECHO, C-STORE and C-FIND (Study Root) over pynetdicom.

Who may send: a calling AE title must be listed in some organization's ``/dicom/settings``
(unique across organizations); any other is refused at association time (A-ASSOCIATE-RJ,
"calling AE title not recognised"). The listener then acts for that organization as the admin
who saved its settings.

C-STORE goes through the upload's ingest path (:mod:`datamint.server.resources.dicom_receive`):
anonymized when the organization says so, and with ``assemble`` the single-frame instances of an
association are kept in a spool folder and assembled per series into one multi-frame resource
when the association ends (released or aborted); an instance that cannot be assembled is stored
on its own, so every acknowledged instance is stored exactly once.

C-FIND answers at STUDY, SERIES and IMAGE level from the DICOM index, with QIDO-RS's matching
(:mod:`datamint.server.resources.dicom_query`).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind, Verification  # type: ignore[attr-defined]

from datamint.imaging.dicom_io import read_dicom
from datamint.imaging.limits import DecodeLimits, decode_limits
from datamint.server.db.session import Database
from datamint.server.errors import AppError
from datamint.server.resources import dicom_receive, dicom_settings
from datamint.server.resources.dicom_query import ATTRIBUTES, LEVELS, DicomQuery, search
from datamint.server.storage.base import BlobStore

_LOG = logging.getLogger("datamint.server.dimse")
#: Never a real AE title (17 characters): with no title configured, every caller is refused.
_NOBODY = "<none configured>"
_LEVEL = {"STUDY": "study", "SERIES": "series", "IMAGE": "instance"}
SUCCESS, PENDING, CANNOT_PROCESS, OUT_OF_RESOURCES, UNKNOWN_CALLER = 0x0000, 0xFF00, 0xC000, 0xA700, 0xA801


def _matching_text(value: Any) -> str:
    """A C-FIND key's value as QIDO-RS matching text: several values (a UID list, modalities)
    joined with ``\\`` as they came on the wire (``str`` of pydicom's MultiValue is a Python list)."""
    if value is None:
        return ""
    if isinstance(value, MultiValue):
        return "\\".join(str(v) for v in value)
    return str(value)


class _GatedAE(AE):
    """An AE whose allowed calling AE titles are read from the database at each association."""

    def __init__(self, ae_title: str, database: Database) -> None:
        super().__init__(ae_title)
        self._database = database

    @property  # type: ignore[override]
    def require_calling_aet(self) -> list[str]:
        with self._database.transaction() as session:
            return dicom_settings.all_calling_ae_titles(session) or [_NOBODY]

    @require_calling_aet.setter
    def require_calling_aet(self, ae_titles: list[str]) -> None:
        """Set by the base class's constructor only; the list lives in the database."""


class DicomListener:
    """A C-STORE/C-ECHO/C-FIND SCP storing into the server's database and blob store.

    Args:
        database: The server's database.
        store: The server's blob store.
        ae_title: The listener's own AE title.
        host: Interface to listen on. port: TCP port (0: a free one, see :attr:`port`).
        limits: The decoded-size limits received instances are checked against (the settings').
    """

    def __init__(self, database: Database, store: BlobStore, ae_title: str, host: str, port: int,
                 limits: DecodeLimits | None = None) -> None:
        self.database, self.store = database, store
        self.limits = limits or DecodeLimits()
        self.address = (host, port)
        self.ae = _GatedAE(ae_title, database)
        self.ae.maximum_pdu_size = 0
        for context in AllStoragePresentationContexts:
            self.ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        self.ae.add_supported_context(Verification)
        self.ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        self._spools: dict[int, Path] = {}
        self._lock = threading.Lock()
        self._server: Any = None

    @property
    def port(self) -> int:
        """The TCP port the listener is bound to."""
        return int(self._server.server_address[1]) if self._server else self.address[1]

    def start(self) -> None:
        """Listen in background threads."""
        handlers = [(evt.EVT_C_STORE, self._limited(self._on_store)), (evt.EVT_C_FIND, self._on_find),
                    (evt.EVT_RELEASED, self._limited(self._on_end)), (evt.EVT_ABORTED, self._limited(self._on_end)),
                    (evt.EVT_CONN_CLOSE, self._limited(self._on_end))]
        self._server = self.ae.start_server(self.address, block=False, evt_handlers=handlers)
        _LOG.info("DICOM listener %s on %s:%d", self.ae.ae_title, self.address[0], self.port)

    def _limited(self, handler: Any) -> Any:
        """``handler`` run with the listener's decoded-size limits in force (pynetdicom's threads)."""
        def run(event: Any) -> Any:
            with decode_limits(self.limits):
                return handler(event)
        return run

    def serve_forever(self) -> None:
        """Listen in the calling thread until interrupted."""
        self.start()
        try:
            threading.Event().wait()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop listening and end open associations."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    # -- C-STORE --------------------------------------------------------------------------------

    def _on_store(self, event: Any) -> int:
        caller = event.assoc.requestor.ae_title
        session = self.database.session()
        try:
            found = dicom_settings.receiver_for(session, caller)
            if found is None:
                _LOG.warning("C-STORE from %s: no organization receives for this AE title", caller)
                return UNKNOWN_CALLER
            settings, me = found
            data = event.encoded_dataset(include_meta=True)
            if settings.assemble:
                dicom_receive.check_instance(dicom_receive.received_bytes(data, "instance.dcm"))  # else C000
                with self._lock:  # one spool folder per association (made at its first instance)
                    folder = self._spools.get(id(event.assoc))
                    if folder is None:
                        folder = self._spools[id(event.assoc)] = Path(tempfile.mkdtemp(prefix="dimse-"))
                (folder / f"{event.request.MessageID:06d}-{len(list(folder.iterdir())):06d}.dcm").write_bytes(data)
                return SUCCESS
            received = dicom_receive.received_bytes(data, "instance.dcm")
            dicom_receive.store_instance(session, self.store, me, received, mapper=dicom_settings.anonymizer(settings),
                                         channel=settings.channel, project_id=settings.project_id, source="dimse",
                                         filename=f"{event.request.AffectedSOPInstanceUID}.dcm")
        except AppError as exc:
            _LOG.warning("C-STORE from %s refused: %s", caller, exc.message)
            return CANNOT_PROCESS
        except Exception:
            _LOG.exception("C-STORE from %s failed", caller)
            return OUT_OF_RESOURCES
        finally:
            session.close()
        return SUCCESS

    def _on_end(self, event: Any) -> None:
        with self._lock:
            folder = self._spools.pop(id(event.assoc), None)
        if folder is None:
            return
        try:
            self._flush(event.assoc.requestor.ae_title, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _flush(self, caller: str, folder: Path) -> None:
        """Assemble and store the instances an association left in its spool folder (their headers
        read first, each series' pixels only when it is stored: an association may carry a whole
        study, more than the memory holds)."""
        paths: dict[int, Path] = {}
        datasets = []
        for path in sorted(folder.iterdir()):
            header = read_dicom(path, stop_before_pixels=True, check=False)
            paths[id(header)] = path
            datasets.append(header)
        session = self.database.session()
        try:
            found = dicom_settings.receiver_for(session, caller)
            if found is None:
                _LOG.error("%d instance(s) from %s kept in %s: its organization no longer receives",
                           len(datasets), caller, folder)
                return
            settings, me = found
            dicom_receive.store_series(session, self.store, me, datasets, mapper=dicom_settings.anonymizer(settings),
                                       channel=settings.channel, project_id=settings.project_id, source="dimse",
                                       load=lambda header: read_dicom(paths[id(header)], check=False))
        except Exception:
            _LOG.exception("storing the %d instance(s) received from %s failed", len(datasets), caller)
        finally:
            session.close()

    # -- C-FIND ---------------------------------------------------------------------------------

    def _on_find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        identifier = event.identifier
        level = _LEVEL.get(str(identifier.get("QueryRetrieveLevel", "")).upper())
        if level is None:
            yield CANNOT_PROCESS, None
            return
        allowed = LEVELS[:LEVELS.index(level) + 1]
        q = DicomQuery(level=level, limit=10_000)
        for element in identifier:
            keyword, text = element.keyword, _matching_text(element.value)
            if keyword == "ModalitiesInStudy" and text:
                q.modalities_in_study = [m for m in text.split("\\") if m]
            elif keyword in ATTRIBUTES and ATTRIBUTES[keyword][0] in allowed and text:
                q.keys[keyword] = text
        with self.database.transaction() as session:
            found = dicom_settings.receiver_for(session, event.assoc.requestor.ae_title)
            if found is None:
                yield UNKNOWN_CALLER, None
                return
            try:
                results = search(session, found[1].customer_id, q)
            except AppError as exc:
                _LOG.warning("C-FIND refused: %s", exc.message)
                yield CANNOT_PROCESS, None
                return
        for item in results:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            answer = Dataset()
            answer.QueryRetrieveLevel = identifier.QueryRetrieveLevel
            for element in identifier:
                if element.keyword in ("QueryRetrieveLevel", ""):
                    continue
                value = item.get(element.keyword)
                if isinstance(value, list):
                    value = "\\".join(value)
                setattr(answer, element.keyword, "" if value is None else value)
            yield PENDING, answer
