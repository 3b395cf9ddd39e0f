"""The versions of a persisted source: listing them, finding the one current at
a time, and choosing which ones retention removes.

Every persist or refresh writes a new version in its own folder,
``<root>/<token>/<version>/``, with its record in ``record.yaml``; the index
names the current one. The functions here read the folders; the store
(:class:`~intake_persistplus.persist_store.PersistStore`) decides and deletes.
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
from dataclasses import dataclass

import yaml

from .errors import NotPersistedError
from .layout import RECORD, Location, is_token
from .record import Record

logger = logging.getLogger(__name__)


@dataclass
class VersionInfo:
    """One stored version of a persisted source."""

    token: str
    version: str
    timestamp: float
    size: int
    current: bool
    record: Record

    def to_dict(self) -> dict:
        return {
            "token": self.token,
            "version": self.version,
            "timestamp": self.timestamp,
            "time": _dt.datetime.fromtimestamp(self.timestamp, _dt.timezone.utc).isoformat(),
            "size": self.size,
            "current": self.current,
            "ttl": self.record.ttl,
        }


def read_version(loc: Location, token: str, version: str) -> Record | None:
    """The record of one version folder, or None (missing, or damaged: logged)."""
    try:
        doc = yaml.safe_load(loc.read_text(token, version, RECORD))
        return Record.from_entry(token, doc.get(token) if isinstance(doc, dict) else None)
    except FileNotFoundError:
        return None
    except Exception as e:  # a damaged record: that version is skipped
        logger.warning("skipping version %s/%s: %s", token, version, e)
        return None


def list_versions(loc: Location, token: str, current: Record | None) -> list[VersionInfo]:
    """Every complete version of ``token``, oldest first; ``current`` is the index's."""
    found: dict[str, Record] = {}
    for name in loc.listdir(token):
        if name.startswith("."):
            continue
        rec = read_version(loc, token, name)
        if rec is not None and rec.version == name:
            found[name] = rec
    if current is not None:
        found.setdefault(current.version, current)
    out = []
    for name, rec in sorted(found.items(), key=lambda kv: (kv[1].timestamp, kv[0])):
        size = loc.du(token, name) if loc.exists(token, name) else 0
        is_current = current is not None and current.version == name
        out.append(VersionInfo(token, name, rec.timestamp, size, is_current, rec))
    return out


def newest_records(loc: Location) -> list[Record]:
    """The newest complete version of every source, from the ``record.yaml`` files
    (what a damaged index is rebuilt from)."""
    records = []
    for token in loc.listdir():
        if not is_token(token):
            continue
        found = [
            r for name in loc.listdir(token) if not name.startswith(".")
            and (r := read_version(loc, token, name)) is not None and r.version == name
        ]
        if found:
            records.append(max(found, key=lambda r: (r.timestamp, r.version)))
    return records


def version_at(versions: list[VersionInfo], when: float, token: str) -> VersionInfo:
    """The version that was current at ``when`` (epoch seconds)."""
    older = [v for v in versions if v.timestamp <= when]
    if not older:
        first = (
            f"; the first was written at {_dt.datetime.fromtimestamp(versions[0].timestamp).isoformat()}"
            if versions else ""
        )
        raise NotPersistedError(
            f"no version of {token} existed at {_dt.datetime.fromtimestamp(when).isoformat()}{first}"
        )
    return older[-1]


def find_version(versions: list[VersionInfo], version: str, token: str) -> VersionInfo:
    """The version with id ``version``."""
    for v in versions:
        if v.version == version:
            return v
    have = ", ".join(v.version for v in versions) or "none"
    raise NotPersistedError(f"no version {version!r} of {token}; stored versions: {have}")


def to_prune(
    versions: list[VersionInfo],
    keep: int | None,
    older_than: float | None = None,
    grace: float = 0.0,
) -> list[VersionInfo]:
    """The versions that retention removes: all but the ``keep`` newest, and
    those older than ``older_than`` seconds; never the current or the newest
    version, nor one replaced less than ``grace`` seconds ago."""
    now = time.time()
    drop = versions[:-keep] if keep else []
    if older_than is not None:
        limit = now - older_than
        drop += [v for v in versions if v.timestamp < limit and v not in drop]
    replaced_at = {a.version: b.timestamp for a, b in zip(versions, versions[1:], strict=False)}
    out = []
    for v in drop:
        if v.current or v is versions[-1]:
            continue
        if grace and now - replaced_at.get(v.version, 0) < grace:
            continue
        out.append(v)
    return out
