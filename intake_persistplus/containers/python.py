"""Python objects (container ``python``: intake's ``textfiles`` and ``jsonfiles``
sources, and any source whose ``read()`` gives plain Python data) persist to a
tagged JSON file and come back as :class:`PersistedPythonSource`
(driver ``persisted_python``), whose ``read()`` gives an equal object.

The encoding keeps what plain JSON loses: tuples, sets, bytes, dict keys that
are not strings, and non-finite floats. It only ever builds built-in types, so
reading a persisted file cannot run code. Objects of other types are refused
with a clear error.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from intake.source.base import DataSource, Schema

from ..errors import UnsupportedObjectError
from ._common import Hashing, content_hash, guard_gone

DRIVER = "persisted_python"
_TAG = "__pp__"


def encode(value: Any) -> Any:
    """A JSON-able form of ``value`` that :func:`decode` turns back into an equal object."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {_TAG: "float", "v": repr(value)}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        items = [encode(v) for v in value]
        return {_TAG: "frozenset" if isinstance(value, frozenset) else "set", "v": items}
    if isinstance(value, (bytes, bytearray)):
        return {_TAG: "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and _TAG not in value:
            return {k: encode(v) for k, v in value.items()}
        return {_TAG: "dict", "v": [[encode(k), encode(v)] for k, v in value.items()]}
    raise UnsupportedObjectError(
        f"cannot persist a value of type {type(value).__module__}.{type(value).__name__} "
        "with the 'python' persister (it writes str, bytes, numbers, None, lists, tuples, "
        "sets and dicts); register a persister for this container with "
        "intake.container.register_container"
    )


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        tag = value.get(_TAG)
        if tag is None:
            return {k: decode(v) for k, v in value.items()}
        v = value.get("v")
        if tag == "float":
            return float(v)
        if tag == "tuple":
            return tuple(decode(x) for x in v)
        if tag == "set":
            return {decode(x) for x in v}
        if tag == "frozenset":
            return frozenset(decode(x) for x in v)
        if tag == "bytes":
            return base64.b64decode(v)
        if tag == "dict":
            return {_hashable(decode(k)): decode(x) for k, x in v}
        raise ValueError(f"unknown tag {tag!r} in a persisted python object")
    return value


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


class PythonPersister:
    """Persist ``python`` sources: ``read()`` written as tagged JSON."""

    container = "python"

    def check_kwargs(self, kwargs: dict) -> dict:
        if kwargs:
            raise TypeError(
                f"the python persister takes no writer arguments; got {', '.join(map(repr, kwargs))}"
            )
        return kwargs

    def write(self, source: Any, path: str, storage_options: dict | None = None, **kwargs: Any):
        import fsspec

        self.check_kwargs(kwargs)
        payload = json.dumps({"format": 1, "data": encode(source.read())}, ensure_ascii=False)
        fs, root = fsspec.core.url_to_fs(path, **(storage_options or {}))
        fs.makedirs(root, exist_ok=True)
        data = payload.encode("utf-8")
        with fs.open(f"{root}/data.json", "wb") as f:
            hashed = Hashing(f)
            hashed.write(data)
        return DRIVER, {"urlpath": path}, content_hash([("data.json", hashed.size, hashed.hexdigest())])


class PersistedPythonSource(DataSource):
    """Python data persisted by intake-persistplus; ``read()`` gives the object back."""

    container = "python"
    name = DRIVER
    version = "1"
    partition_access = False

    def __init__(self, urlpath: str, storage_options: dict | None = None, metadata: dict | None = None):
        super().__init__(metadata=metadata)
        self.urlpath = urlpath
        self.storage_options = storage_options or {}

    def _get_schema(self) -> Schema:
        return Schema(dtype=None, shape=None, npartitions=1, extra_metadata={})

    def _get_partition(self, i: int) -> Any:
        return self.read()

    @guard_gone
    def read(self) -> Any:
        import fsspec

        with fsspec.open(f"{self.urlpath}/data.json", "r", encoding="utf-8", **self.storage_options) as f:
            doc = json.load(f)
        return decode(doc["data"])

    def _close(self) -> None:
        pass
