"""One persisted version of a source: what the index says about it.

A :class:`Record` converts to and from the plain mapping stored under
``sources: <token>:`` in the index (an intake catalog entry). Only known
fields are read back; anything else in a hand-edited entry is ignored, and
nothing in an entry is ever imported or called.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from .config import validate_ttl
from .errors import InvalidRecordError
from .layout import is_token, legacy_version_id
from .walk import walk

#: ``revalidate`` for a copy checked against its original at every access
ON_ACCESS = "on-access"
#: the times a datetime can hold, in seconds since the epoch (years 1 to 9999)
TIMES = (-62135596800.0, 253402300800.0)
_SAFE_ID_RE = re.compile(r"[\w][\w.\-]*")


def _built_from(value: Any) -> dict:
    """The ``persist_built_from`` of an entry, keeping only well-formed items."""
    if not isinstance(value, dict):
        return {}
    out = {}
    for token, item in value.items():
        if is_token(token) and isinstance(item, dict):
            out[token] = {k: item.get(k) if isinstance(item.get(k), str) else None
                          for k in ("version", "content", "ref")}
    return out


def _plain_leaf(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item") and callable(value.item):
        try:
            return plain(value.item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    return str(value)


def _plain_key(key: Any) -> Any:
    return key if isinstance(key, (int, float, bool)) else str(key)


def plain(value: Any) -> Any:
    """A copy of ``value`` that ``yaml.safe_dump`` can write.

    Tuples and sets become lists, mappings plain dicts, numpy scalars Python
    numbers, paths strings; anything else unknown becomes its ``str``.
    """
    return walk(value, _plain_leaf, key=_plain_key)


@dataclass
class Record:
    """The newest persisted version of one original source.

    Attributes
    ----------
    token:
        ``dask.base.tokenize(original)``, the store key.
    driver:
        intake driver name that reads the persisted data (``"persisted_parquet"``,
        ``"ndzarr"``, ``"zarr"``, ``"persisted_python"``, ...).
    args:
        keyword arguments of that driver; paths inside the store start with
        ``{{ CATALOG_DIR }}``.
    container:
        the original's container (``"dataframe"``, ...).
    timestamp:
        when this version was written (epoch seconds).
    ttl:
        seconds it stays fresh, or ``None``.
    version:
        the version id, also the name of its folder in the store.
    keep:
        how many versions of this source to keep (``None``: all).
    parameters:
        the user parameters of the catalog access that made the original.
    dependencies:
        tokens of the persisted sources this one was made from (its
        upstreams in a pipeline; the keys of ``built_from``).
    size:
        bytes of the version's files as written (``None``: not measured).
    identity:
        the *data identity* of the original (:func:`~.originals.data_identity`):
        a hash of what decides its data, not of its name, description,
        metadata or persist settings (``None``: written before 0.2.0).
    rekeys:
        how many times the entry moved to a new token after a catalog edit
        that left its data identity alone.
    fingerprint:
        the original's files when this version was written
        (:func:`~.fingerprint.fingerprint`; ``None``: not files).
    checked:
        when the original was last found unchanged since (epoch seconds;
        ``None``: never checked since ``timestamp``). The ttl runs from it.
    catalog:
        the catalog file (path or URL, without credentials) the original's
        entry was read from, or ``None`` (a source made in code).
    entry:
        the name of that entry in it.
    revalidate:
        what an expired copy does: ``True`` compares fingerprints first and
        re-reads only a changed original; ``False`` always re-reads;
        ``"on-access"`` (no ttl) compares them at every catalog access.
    content:
        a SHA-256 of the data as its persister wrote it (computed while
        writing; ``None``: a persister that does not report one). A refresh
        whose data has the content of the version it replaces shares that
        version's data instead of keeping a second copy.
    """

    token: str
    driver: str
    args: dict
    container: str
    original_name: str | None
    original_description: str | None
    original_metadata: dict
    original_source: dict
    timestamp: float
    ttl: float | int | None
    persist_kwargs: dict
    version: str
    keep: int | None = None
    parameters: dict = field(default_factory=dict)
    description: str = ""
    dependencies: list = field(default_factory=list)
    size: int | None = None
    identity: str | None = None
    rekeys: int = 0
    fingerprint: str | None = None
    checked: float | None = None
    revalidate: bool | str = True
    catalog: str | None = None
    entry: str | None = None
    content: str | None = None
    built_from: dict = field(default_factory=dict)

    def expired(self, now: float | None = None) -> bool:
        """True once ``ttl`` seconds have passed since the copy was written or its
        original last found unchanged (``ttl=0``, or ``revalidate="on-access"``:
        always)."""
        if self.revalidate == ON_ACCESS:
            return True
        if self.ttl is None:
            return False
        now = time.time() if now is None else now
        return now >= max(self.timestamp, self.checked or 0.0) + self.ttl

    @property
    def label(self) -> str:
        """The entry's name with the user parameters it was made with,
        ``byregion(region='south')``: the call that gives back its original."""
        name = self.original_name or "-"
        if self.parameters:
            name += "(" + ", ".join(f"{k}={v!r}" for k, v in self.parameters.items()) + ")"
        return name

    @property
    def folder(self) -> tuple[str, str] | None:
        """``(token, version folder)`` of the data the entry's ``urlpath`` names in
        the store (None for data elsewhere, as intake 0.7 stored it)."""
        path = self.args.get("urlpath")
        if isinstance(path, list) and path:
            path = path[0]
        prefix = "{{ CATALOG_DIR }}/"
        if not isinstance(path, str) or not path.startswith(prefix):
            return None
        parts = path[len(prefix):].split("/")
        if len(parts) < 2 or parts[0] != self.token or parts[1] in ("", ".", ".."):
            return None
        return (parts[0], parts[1])

    def with_settings(self, other: Record) -> Record:
        """This version, with the settings (ttl, keep) an entry ``other`` has now."""
        from dataclasses import replace

        return replace(self, ttl=other.ttl, keep=other.keep)

    def metadata(self) -> dict:
        """The persisted source's ``metadata``: everything needed to remake the original."""
        return {
            "original_tok": self.token,
            "original_name": self.original_name,
            "original_description": self.original_description,
            "original_metadata": self.original_metadata,
            "original_source": self.original_source,
            "container": self.container,
            "timestamp": self.timestamp,
            "ttl": self.ttl,
            "persist_kwargs": self.persist_kwargs,
            "persist_version": self.version,
            "persist_keep": self.keep,
            "original_parameters": self.parameters,
            "dependencies": self.dependencies,
            "persist_bytes": self.size,
            "persist_identity": self.identity,
            "persist_rekeys": self.rekeys,
            "persist_fingerprint": self.fingerprint,
            "persist_checked": self.checked,
            "persist_revalidate": self.revalidate,
            "persist_catalog": self.catalog,
            "persist_entry": self.entry,
            "persist_content": self.content,
            "persist_built_from": self.built_from,
        }

    def to_entry(self) -> dict:
        """The intake catalog entry (YAML-able) for the index."""
        return {
            "driver": self.driver,
            "description": self.description,
            "args": self.args,
            "metadata": self.metadata(),
        }

    @classmethod
    def from_entry(cls, token: str, entry: Any) -> Record:
        """Read an index entry; only known fields are looked at.

        Raises
        ------
        InvalidRecordError
            when a required field is missing or of the wrong type.
        """
        if not is_token(token):
            raise InvalidRecordError(f"index key {token!r} is not a store token")
        if not isinstance(entry, dict):
            raise InvalidRecordError(f"index entry {token!r} is not a mapping")
        md = entry.get("metadata")
        if not isinstance(md, dict):
            raise InvalidRecordError(f"index entry {token!r} has no metadata mapping")
        driver = entry.get("driver")
        args = entry.get("args") or {}
        if not isinstance(driver, str) or not isinstance(args, dict):
            raise InvalidRecordError(f"index entry {token!r} needs a driver name and args mapping")
        if md.get("original_tok", token) != token:
            raise InvalidRecordError(
                f"index entry {token!r} says it persists {md.get('original_tok')!r}"
            )
        try:
            ttl = validate_ttl(md.get("ttl"))
            timestamp = float(md["timestamp"])
            if not TIMES[0] <= timestamp < TIMES[1]:  # not NaN, not milliseconds by mistake
                raise ValueError(f"{timestamp!r} is not a time between the years 1 and 9999")
        except (KeyError, TypeError, ValueError, OverflowError, OSError) as e:
            raise InvalidRecordError(f"index entry {token!r}: bad timestamp or ttl ({e})") from e
        version = md.get("persist_version")
        if not (isinstance(version, str) and _SAFE_ID_RE.fullmatch(version)):
            # written before versions existed (or by hand): name it after its time
            version = legacy_version_id(timestamp)
        keep = md.get("persist_keep")
        if not (isinstance(keep, int) and not isinstance(keep, bool) and keep >= 1):
            keep = None

        def _dict(key):
            v = md.get(key)
            return v if isinstance(v, dict) else {}

        deps = md.get("dependencies") or []
        size = md.get("persist_bytes")
        identity = md.get("persist_identity")
        rekeys = md.get("persist_rekeys")
        fp = md.get("persist_fingerprint")
        checked = md.get("persist_checked")
        revalidate = md.get("persist_revalidate", True)
        catalog, entry_name = md.get("persist_catalog"), md.get("persist_entry")
        content = md.get("persist_content")
        built_from = _built_from(md.get("persist_built_from"))
        return cls(
            token=token,
            driver=driver,
            args=args,
            container=str(md.get("container") or ""),
            original_name=md.get("original_name"),
            original_description=md.get("original_description"),
            original_metadata=_dict("original_metadata"),
            original_source=_dict("original_source"),
            timestamp=timestamp,
            ttl=ttl,
            persist_kwargs=_dict("persist_kwargs"),
            version=version,
            keep=keep,
            parameters=_dict("original_parameters"),
            description=str(entry.get("description") or ""),
            dependencies=[d for d in deps if is_token(d)] if isinstance(deps, list) else list(built_from),
            size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
            identity=identity if isinstance(identity, str) and is_token(identity) else None,
            rekeys=rekeys if isinstance(rekeys, int) and not isinstance(rekeys, bool) and rekeys > 0 else 0,
            fingerprint=fp if isinstance(fp, str) and is_token(fp) else None,
            checked=float(checked) if isinstance(checked, (int, float)) and not isinstance(checked, bool)
            and TIMES[0] <= checked < TIMES[1] else None,
            revalidate=revalidate if revalidate is True or revalidate is False or revalidate == ON_ACCESS
            else True,
            catalog=catalog if isinstance(catalog, str) and catalog else None,
            entry=entry_name if isinstance(entry_name, str) and entry_name else None,
            content=content if isinstance(content, str) and is_token(content) else None,
            built_from=built_from,
        )
