"""Locks of a store: a ``flock`` on a local file system, a lease on any other.

Both serve the index (one writer at a time) and refreshes (one refresh per
source at a time). A local lock dies with its holder; a remote lease names its
owner and when it ends, and a lease past its end is broken by the next taker.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import socket
import sys
import time
import uuid
from collections.abc import Iterator

from .errors import ExclusiveCreateError, IndexLockTimeout, PersistPathError

logger = logging.getLogger(__name__)

#: seconds a remote lock is held at most before others may break it
LEASE_SECONDS = 60.0
#: seconds a taker waits for a lock, unless ``intake.conf["persist_lock_timeout"]`` says
WAIT_SECONDS = None


def _timeout(timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    from .config import lock_timeout

    return lock_timeout()


def _read(fs, path: str) -> bytes:
    """A small file in one request (s3fs asks for the size first unless told not to)."""
    try:
        return fs.cat_file(path, max_concurrency=1)
    except TypeError:
        return fs.cat_file(path)


def one_request(fs) -> dict:
    """``cat_file`` arguments that read a small file in one request: recent s3fs
    asks for its size first unless given ``max_concurrency=1``, which s3fs 2025.10
    and older do not take (nor need)."""
    import inspect

    try:
        names = inspect.signature(type(fs)._cat_file).parameters
    except (AttributeError, TypeError, ValueError):
        return {}
    return {"max_concurrency": 1} if "max_concurrency" in names else {}


def create_exclusive(fs, path: str, data: bytes) -> None:
    """Write ``path`` only if it does not exist (raise ``FileExistsError`` otherwise).

    fsspec's ``mode="create"`` maps to S3's ``If-None-Match: *`` and GCS's
    ``ifGenerationMatch=0``; a file system without it gets an ``"xb"`` open.
    The first call for a kind of file system checks that it is exclusive there
    (see :func:`check_exclusive`).
    """
    check_exclusive(fs, path.rstrip("/").rpartition("/")[0])
    _create(fs, path, data)


def _create(fs, path: str, data: bytes) -> None:
    try:
        fs.pipe_file(path, data, mode="create")
    except TypeError:  # an older fsspec or a file system without "create"
        with fs.open(path, "xb") as f:
            f.write(data)


#: the first s3fs that sends ``If-None-Match: *`` for ``mode="create"`` (older ones
#: drop the argument and overwrite)
S3FS_EXCLUSIVE = "2024.12.0"
#: (file system class, its package's version, endpoint) whose exclusive create held
EXCLUSIVE_CHECKED: set = set()


def _package(fs) -> tuple[str, str]:
    name = type(fs).__module__.partition(".")[0]
    version = getattr(sys.modules.get(name), "__version__", None)
    return name, str(version or "(version unknown)")


def check_exclusive(fs, folder: str) -> None:
    """Refuse a file system whose exclusive create is not exclusive.

    Once per process for each file system class, version and endpoint, a probe
    object in ``folder`` is created twice with :func:`create_exclusive`'s call;
    the second must fail, and the probe is removed. Without this, an s3fs
    older than 2024.12 (which drops ``mode="create"``) or a server that ignores
    ``If-None-Match`` would let two writers both "take" a lock.

    Raises
    ------
    ExclusiveCreateError
        naming the package and version, and what to upgrade.
    """
    name, version = _package(fs)
    options = getattr(fs, "storage_options", None) or {}
    endpoint = options.get("endpoint_url") or (options.get("client_kwargs") or {}).get("endpoint_url")
    key = (type(fs), version, str(endpoint))
    if key in EXCLUSIVE_CHECKED:
        return
    probe = f"{folder.rstrip('/')}/.exclusive-probe-{uuid.uuid4().hex}"
    _create(fs, probe, b"1")
    try:
        try:
            _create(fs, probe, b"2")
        except FileExistsError:
            EXCLUSIVE_CHECKED.add(key)
            return
    finally:
        with contextlib.suppress(Exception):
            fs.rm_file(probe)
    where = f" at {endpoint}" if endpoint else ""
    if name == "s3fs" and _numbers(version) < _numbers(S3FS_EXCLUSIVE):
        fix = f"upgrade s3fs to {S3FS_EXCLUSIVE} or newer (pip install -U 's3fs>={S3FS_EXCLUSIVE}')"
    else:
        fix = ("use a file system, or a server, that honours exclusive create "
               "(S3: conditional writes with If-None-Match)")
    raise ExclusiveCreateError(
        f"{type(fs).__name__} ({name} {version}) does not create files exclusively{where}: a second "
        f"mode='create' write of {probe} overwrote it instead of failing, so the "
        f"store's locks would not keep concurrent writers apart; {fix}"
    )


def _numbers(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split("."):
        digits = "".join(c for c in part if c.isdigit()) if part[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


@contextlib.contextmanager
def lease(
    fs, lock_path: str, what: str, ttl: float = LEASE_SECONDS, timeout: float | None = WAIT_SECONDS
) -> Iterator[None]:
    """An exclusive lease on any fsspec file system, built on exclusive create.

    The lock object names its owner and when the lease ends. A lease past its
    end was left by a dead holder and is broken.

    Raises
    ------
    IndexLockTimeout
        naming the holder, when the lease cannot be had within ``timeout`` seconds.
    """
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
    timeout = _timeout(timeout)
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        body = json.dumps({"owner": owner, "expires": time.time() + ttl})
        try:
            create_exclusive(fs, lock_path, body.encode())
            break
        except FileExistsError:
            pass
        try:
            held = json.loads(_read(fs, lock_path))
        except FileNotFoundError:
            continue  # released meanwhile
        except ValueError:
            held = {}
        if float(held.get("expires") or 0) < time.time():
            # re-read right before deleting: only this very lease is broken
            with contextlib.suppress(FileNotFoundError, ValueError):
                if json.loads(_read(fs, lock_path)) == held:
                    logger.warning("breaking the stale lock %s held by %s", lock_path, held.get("owner"))
                    fs.rm(lock_path)
            continue
        if time.monotonic() > deadline:
            raise IndexLockTimeout(
                f"could not lock {what} within {timeout:.0f} s (held by {held.get('owner')}); "
                f"try again, or remove {lock_path} if nothing is running"
            )
        time.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 0.5)
    taken = time.time()
    try:
        yield
    finally:
        try:
            # nobody breaks a lease before it ends: well before that it is surely
            # still ours, and goes without being read first
            if time.time() - taken < ttl / 2 or json.loads(_read(fs, lock_path)).get("owner") == owner:
                fs.rm_file(lock_path)
        except FileNotFoundError:
            pass
        except Exception as e:  # the work is done; the lease will expire by itself
            logger.warning("could not release the lock %s: %s", lock_path, e)


@contextlib.contextmanager
def local_lock(path: str, what: str = "", timeout: float | None = WAIT_SECONDS) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if needed), released when the holder
    dies. The holder writes who it is into the file; a taker waits at most
    ``timeout`` seconds (a stopped holder does not block it forever).

    Raises
    ------
    IndexLockTimeout
        naming the holder, when the lock cannot be had in time.
    """
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except IsADirectoryError:
        raise PersistPathError(
            f"the lock file {path} is a folder, which this package never makes: "
            "look at what is in it, then remove it"
        ) from None
    if os.fstat(fd).st_nlink > 1:  # a hard link: writing the holder's name would write elsewhere
        os.close(fd)
        raise PersistPathError(f"the lock file {path} has other names (a hard link); remove it")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            timeout = _timeout(timeout)
            deadline = time.monotonic() + timeout
            delay = 0.001
            while True:
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.1)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
                        raise IndexLockTimeout(
                            f"could not lock {what or path} within {timeout:g} s: held by {holder}; "
                            "if that process is stopped or hung, end it (or raise "
                            "intake.conf['persist_lock_timeout'])"
                        ) from None
        with contextlib.suppress(OSError):
            me = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}"
            os.ftruncate(fd, 0)
            os.pwrite(fd, me.encode(), 0)
        yield
    finally:
        os.close(fd)
