"""Disk use of a local folder, each file counted once however many hard links
it has (versions that hold the same data share their files: see
:mod:`.dedupe`)."""

from __future__ import annotations

import os
import stat


def regular_files(top: str) -> dict[str, os.stat_result]:
    """Regular files below ``top`` by relative path (links and others skipped)."""
    out = {}
    for folder, _, names in os.walk(top, followlinks=False):
        for name in names:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                out[os.path.relpath(path, top)] = st
    return out


def disk_use(top: str) -> int:
    """Bytes of the regular files below ``top`` (or of ``top`` itself), each
    file counted once however many hard links it has there."""
    try:
        st = os.lstat(top)
    except FileNotFoundError:
        return 0
    if stat.S_ISREG(st.st_mode):
        return st.st_size
    seen: set[tuple[int, int]] = set()
    total = 0
    for st in regular_files(top).values():
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total
