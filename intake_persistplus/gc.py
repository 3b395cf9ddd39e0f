"""What interrupted persists leave behind, and removing it safely.

A version folder without ``record.yaml`` is never served. It is removed only
when its writer is certainly gone: a writer on this machine when its process
is, elsewhere when the version (its id says when it started) is older than
:data:`STALE_WRITE_SECONDS`. Unsure means no. Only folders named like the
versions this package writes are considered, so intake 0.7's data files,
straight in a token's folder, are never touched.
"""

from __future__ import annotations

import json
import os
import socket
import time

from .layout import INCOMPLETE, RECORD, Location, is_token, is_version_id, version_time
from .record import Record

#: an unfinished version whose writer cannot be checked is removed after this long
STALE_WRITE_SECONDS = 6 * 3600


def writer_marker() -> str:
    """The text of a version's ``.incomplete`` file: who is writing it, since when."""
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})


def abandoned(loc: Location, token: str, version: str) -> bool:
    """True only for a version folder whose writer is certainly gone."""
    if not is_version_id(version) or loc.exists(token, version, RECORD):
        return False
    try:
        info = json.loads(loc.read_text(token, version, INCOMPLETE))
    except FileNotFoundError:
        # the writer may have just finished (record written, then marker removed)
        if loc.exists(token, version, RECORD):
            return False
        info = {}
    except ValueError:
        info = {}
    if info.get("host") == socket.gethostname() and info.get("pid"):
        try:
            os.kill(int(info["pid"]), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, OverflowError, ValueError):
            return False
        return False  # alive: never taken from a running writer
    return time.time() - version_time(version) > STALE_WRITE_SECONDS


def collect_token(loc: Location, token: str, current: Record | None) -> list[str]:
    """Remove the abandoned versions of one source (never the one ``current``, its
    index entry, serves); return ``token/version`` of each."""
    served = set() if current is None else {current.version, (current.folder or ("", ""))[1]}
    # one listing of the source's folder tells which versions lack their record
    complete, seen = set(), set()
    prefix = loc.path_of(token) + "/"
    for path, info in loc.find(token).items():
        rel = path[len(prefix):] if path.startswith(prefix) else ""
        name, _, rest = rel.partition("/")
        if not name or (not rest and info.get("type") != "directory"):
            continue  # files straight in the source's folder (intake 0.7's layout)
        seen.add(name)
        if rest == RECORD:
            complete.add(name)
    gone = []
    for name in sorted(seen - complete):
        if name in served:
            continue
        if abandoned(loc, token, name):
            loc.rm(token, name)
            gone.append(f"{token}/{name}")
    return gone


def token_folders(loc: Location) -> list[str]:
    """The folders of the store named like tokens."""
    return [name for name in loc.listdir() if is_token(name)]
