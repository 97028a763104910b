"""The model host: a process that loads one deployed model in the model's own environment and serves it.

The worker starts it with the Python of the model's isolated environment
(``<env>/bin/python -I model_host.py <model dir> <flavor>``, see
:mod:`datamint.server.models.hosting`). It imports only the standard library and numpy at the top,
so it runs in any environment, even one where ``datamint`` is another package (the official
client's flavor installs ``datamint==2.45.0`` there).

Protocol (stdin → host, host → the original stdout; the model's own prints go to stderr): a
message is a 4-byte big-endian length, a JSON header of that length, then the header's
``arrays`` count of arrays, each an 8-byte big-endian length and ``.npy`` bytes (``np.save``
without pickles); in the JSON, ``{"__array__": i}`` stands for the i-th array.

After loading, the host sends ``{"ok": true, "class", "modes", "batch_size", "annotation_specs"}``
(or ``{"ok": false, "error", "kind"}`` and exits). Then it answers requests one at a time:
``{"op": "predict", "mode", "inputs", "params"}`` → ``{"ok": true, "outputs"}`` (per input, a list
of prediction dicts ``{"type": "mask"|"box"|"point"|"category", ...}``), ``{"op": "ping"}``, and
``{"op": "stop"}``. It exits at end of input, and when the worker that started it dies.
"""

from __future__ import annotations

import io
import json
import os
import struct
import sys
import threading
import time
import traceback
from typing import Any, BinaryIO

import numpy as np

MODES = ("image", "frame", "slice", "volume", "default")
MAX_HEADER = 64 << 20


# -- framing (used by the worker too) ------------------------------------------------------------------

def _pack(value: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(value, np.ndarray):
        arrays.append(value)
        return {"__array__": len(arrays) - 1}
    if isinstance(value, dict):
        return {str(k): _pack(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_pack(v, arrays) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _unpack(value: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        return {k: _unpack(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpack(v, arrays) for v in value]
    return value


def write_message(stream: BinaryIO, message: dict[str, Any]) -> None:
    """Write one framed message (arrays as ``.npy`` bytes) and flush."""
    arrays: list[np.ndarray] = []
    header = json.dumps({"body": _pack(message, arrays), "arrays": len(arrays)}).encode()
    parts = [struct.pack(">I", len(header)), header]
    for array in arrays:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
        data = buffer.getvalue()
        parts += [struct.pack(">Q", len(data)), data]
    stream.write(b"".join(parts))
    stream.flush()


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            raise EOFError("the other side closed the pipe")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_message(stream: BinaryIO) -> dict[str, Any]:
    """Read one framed message.

    Raises:
        EOFError: The other side closed the pipe (or died).
    """
    (length,) = struct.unpack(">I", _read_exact(stream, 4))
    if length > MAX_HEADER:
        raise ValueError(f"message header of {length} bytes")
    header = json.loads(_read_exact(stream, length))
    arrays = []
    for _ in range(int(header["arrays"])):
        (size,) = struct.unpack(">Q", _read_exact(stream, 8))
        arrays.append(np.load(io.BytesIO(_read_exact(stream, size)), allow_pickle=False))
    return _unpack(header["body"], arrays)


# -- our SDK's models ----------------------------------------------------------------------------------

class OurModel:
    """A :class:`datamint.mlflow.DatamintModel` (our SDK) served from its environment."""

    def __init__(self, model_dir: str) -> None:
        source = os.environ.get("DATAMINT_HOST_SRC")
        if source and "site-packages" not in source:
            sys.path.insert(0, source)  # the worker's own datamint source tree (a development install)
        import mlflow.pyfunc

        from datamint.mlflow import model as contract

        self.contract = contract
        model = mlflow.pyfunc.load_model(model_dir).unwrap_python_model()
        if not isinstance(model, contract.DatamintModel):
            raise LoadProblem("not_datamint", f"The model is a {type(model).__name__}, not a "
                              "datamint.mlflow.DatamintModel: subclass DatamintModel, implement "
                              "predict_image/frame/slice/volume/default, and log it with datamint.mlflow.log_model")
        self.model = model
        self.modes = type(model).supported_modes()
        self.batch_size = type(model).batch_size
        self.annotation_specs = list(type(model).annotation_specs or [])
        self.class_name = type(model).__name__

    def predict(self, mode: str, inputs: list[dict[str, Any]], params: dict[str, Any]) -> list[list[dict[str, Any]]]:
        fields = set(self.contract.ModelInput.__dataclass_fields__)
        model_inputs = [self.contract.ModelInput(**{k: v for k, v in x.items() if k in fields}) for x in inputs]
        outputs = self.model.predict(None, model_inputs, {**params, "mode": mode})
        return [[self._wire(p) for p in group] for group in outputs]

    def _wire(self, p: Any) -> dict[str, Any]:
        c = self.contract
        confidence = getattr(p, "confidence", None)
        if isinstance(p, c.Mask):
            return {"type": "mask", "label": p.label, "mask": np.asarray(p.mask), "confidence": confidence}
        if isinstance(p, c.Box):
            return {"type": "box", "label": p.label, "x_min": p.x_min, "y_min": p.y_min, "x_max": p.x_max,
                    "y_max": p.y_max, "confidence": confidence}
        if isinstance(p, c.Point):
            return {"type": "point", "label": p.label, "x": p.x, "y": p.y, "confidence": confidence}
        if isinstance(p, c.Category):
            return {"type": "category", "identifier": p.identifier, "value": p.value, "confidence": confidence}
        return {"type": "unknown", "class": type(p).__name__}


# -- the official client's flavor ----------------------------------------------------------------------

class OfficialModel:
    """A model logged with the official client's flavor (``datamint.mlflow.flavors``, datamint 2.x).

    Its ``predict_*`` methods take the official client's resource entities (here ``LocalResource``
    objects over the resource's file, carrying its id, name, mimetype and modality) and return its
    annotation entities, turned here into the prediction dicts of the protocol.
    """

    def __init__(self, model_dir: str) -> None:
        from datamint.mlflow.flavors import datamint_flavor

        self.model = datamint_flavor._load_pyfunc(model_dir).unwrap_python_model()
        official = set(self.model.get_supported_modes())
        # The flavor's volume bridge runs predict_slice slice by slice and returns 2-D masks stamped with
        # their frame, which this server does not assemble into a volume: only a predict_volume of the model's own.
        if getattr(getattr(type(self.model), "predict_volume", None), "_is_bridge", False):
            official.discard("volume")
        self.modes = [m for m in MODES if m in official]
        if not self.modes:
            raise LoadProblem("no_predict", f"{type(self.model).__name__} implements no prediction mode this server "
                              f"serves ({', '.join(sorted(official)) or 'none'}): add predict_image, predict_frame, "
                              "predict_slice, predict_volume or predict_default")
        specs = getattr(type(self.model), "annotation_specs", None) or getattr(self.model, "annotation_specs", None)
        self.annotation_specs = [s.model_dump(mode="json", exclude_none=True) if hasattr(s, "model_dump") else s
                                 for s in (specs or [])]
        self.batch_size = None
        self.class_name = type(self.model).__name__

    def predict(self, mode: str, inputs: list[dict[str, Any]], params: dict[str, Any]) -> list[list[dict[str, Any]]]:
        from datamint.entities.resource import LocalResource

        resources = []
        for x in inputs:
            known = {"id": x.get("resource_id"), "filename": x.get("filename"), "mimetype": x.get("mimetype"),
                     "modality": (x.get("metadata") or {}).get("modality")}
            resources.append(LocalResource(local_filepath=x["path"], **{k: v for k, v in known.items() if v}))
        call = dict(params)
        if mode == "frame":
            call["frame_index"] = inputs[0].get("frame_index") or 0
        elif mode == "slice":
            call["slice_index"], call["axis"] = inputs[0].get("frame_index") or 0, inputs[0].get("axis") or "axial"
        outputs = self.model.predict(resources, {**call, "mode": mode})
        if len(outputs) != len(inputs):
            raise ValueError(f"{self.class_name}.predict returned {len(outputs)} results for {len(inputs)} inputs: "
                             "return one list of annotations per resource")
        return [[self._wire(a) for a in group] for group in outputs]

    @staticmethod
    def _wire(a: Any) -> dict[str, Any]:
        kind = getattr(a, "annotation_type", None)
        kind = getattr(kind, "value", kind)
        confidence = getattr(a, "confiability", None)
        label = getattr(a, "identifier", None)
        geometry = getattr(a, "geometry", None)
        points = [list(p) for p in getattr(geometry, "points", None) or []] if geometry is not None else []
        if kind == "segmentation":
            data = getattr(a, "segmentation_data", None)
            if hasattr(data, "get_fdata"):
                data = np.asanyarray(data.dataobj)
            return {"type": "mask", "label": label, "mask": np.asarray(data), "confidence": confidence,
                    "frame_index": getattr(a, "frame_index", None)}
        if kind == "category":
            return {"type": "category", "identifier": label, "value": getattr(a, "text_value", None),
                    "confidence": confidence}
        if kind == "square" and len(points) == 4:
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            return {"type": "box", "label": label, "x_min": min(xs), "y_min": min(ys), "x_max": max(xs),
                    "y_max": max(ys), "confidence": confidence}
        if kind == "point" and len(points) == 1:
            return {"type": "point", "label": label, "x": points[0][0], "y": points[0][1], "confidence": confidence}
        return {"type": "unknown", "class": f"{type(a).__name__} ({kind})"}


class LoadProblem(Exception):
    """The model loaded but cannot be served (``kind`` says why)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# -- the process ---------------------------------------------------------------------------------------

def _watch_parent(parent: int) -> None:
    """Exit when the worker that started this host is gone (its pipe may be held by others)."""
    while True:
        time.sleep(1)
        if os.getppid() != parent:
            os._exit(0)


def main(argv: list[str]) -> int:
    model_dir, flavor = argv[1], argv[2]
    channel_out = os.fdopen(os.dup(1), "wb")  # the protocol's; the model's prints go to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    channel_in = os.fdopen(os.dup(0), "rb")
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    try:
        model = OfficialModel(model_dir) if flavor == "official" else OurModel(model_dir)
        if not model.modes:
            raise LoadProblem("no_predict", f"{model.class_name} implements no predict_* method: add predict_image, "
                              "predict_frame, predict_slice, predict_volume or predict_default")
    except LoadProblem as exc:
        write_message(channel_out, {"ok": False, "kind": exc.kind, "error": str(exc)})
        return 1
    except BaseException as exc:  # noqa: BLE001 - whatever the model's code raised is the message
        traceback.print_exc()
        write_message(channel_out, {"ok": False, "kind": "load", "error": f"{type(exc).__name__}: {exc}"})
        return 1
    write_message(channel_out, {"ok": True, "class": model.class_name, "modes": model.modes,
                                "batch_size": model.batch_size, "annotation_specs": model.annotation_specs,
                                "pid": os.getpid(), "python": sys.executable})
    while True:
        try:
            request = read_message(channel_in)
        except EOFError:
            return 0
        op = request.get("op")
        if op == "stop":
            return 0
        if op == "ping":
            write_message(channel_out, {"ok": True, "pid": os.getpid()})
            continue
        try:
            outputs = model.predict(request["mode"], request["inputs"], request.get("params") or {})
            write_message(channel_out, {"ok": True, "outputs": outputs})
        except BaseException as exc:  # noqa: BLE001 - reported to the job
            traceback.print_exc()
            write_message(channel_out, {"ok": False, "kind": "predict", "error": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    sys.exit(main(sys.argv))
