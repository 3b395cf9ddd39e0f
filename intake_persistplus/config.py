"""Configuration: where the store lives, which persist mode applies, and every
check of a value a user gives (ttl, keep, durations, times, paths).

Everything here reads ``intake.conf`` at call time, so changing
``intake.conf["persist_path"]`` (or ``"persist_mode"``) in a running process
takes effect on the next store operation. Each validator raises a
:class:`~intake_persistplus.errors.PersistSettingError` (a ``ValueError``)
naming the value and what to give instead.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
import os
import posixpath
from typing import Any

from .errors import (
    InvalidPersistModeError,
    InvalidTimeError,
    InvalidTTLError,
    PersistSettingError,
)

MODES = ("always", "default", "never")
DEFAULT_MODE = "default"


def _conf() -> dict:
    from intake import conf

    return conf


def default_persist_path() -> str:
    """``<intake config dir>/persisted``; the config dir honours ``INTAKE_CONF_DIR``."""
    from intake import config

    return posixpath.join(config.confdir, "persisted")


def persist_path() -> str:
    """The persist store's root, as configured right now.

    ``intake.conf["persist_path"]`` (set by the ``INTAKE_PERSIST_PATH``
    environment variable) or :func:`default_persist_path`. Local paths are
    made absolute and ``~`` is expanded; a relative path is resolved once, the
    first time it is used in the process.
    """
    raw = os.fspath(_conf().get("persist_path") or default_persist_path())
    if "://" in raw or os.path.isabs(os.path.expanduser(raw)):
        return normalize_path(raw)
    resolved = _resolved_paths.get(raw)
    if resolved is None:
        resolved = _resolved_paths[raw] = normalize_path(raw)
    return resolved


#: a relative persist path is resolved once, against the working directory of the
#: moment it is first used: a later os.chdir does not move the store
_resolved_paths: dict[str, str] = {}


def normalize_path(path: Any) -> str:
    """A URL without its trailing ``/``, or an absolute local path with ``~`` expanded."""
    path = os.fspath(path)
    if "://" in path:
        return path.rstrip("/")
    return os.path.abspath(os.path.expanduser(path))


def validate_mode(value: Any, where: str = "") -> str:
    """Return ``value`` if it is a valid persist mode, else raise.

    Raises
    ------
    InvalidPersistModeError
        naming the value, where it came from and the accepted values.
    """
    if isinstance(value, str) and value in MODES:
        return value
    origin = f" (from {where})" if where else ""
    raise InvalidPersistModeError(
        f"persist_mode {value!r}{origin} is not understood: use one of "
        f"{', '.join(repr(m) for m in MODES)}"
    )


def _as_seconds(value: Any) -> Any:
    """Seconds from a number, a ``timedelta`` or a duration string; None when the
    value is not one of those, or is negative, NaN or infinite."""
    if isinstance(value, _dt.timedelta):
        value = value.total_seconds()
    elif isinstance(value, str):
        try:
            value = parse_duration(value)
        except PersistSettingError:
            return None
    ok = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )
    return value if ok else None


def validate_ttl(ttl: Any) -> float | int | None:
    """Check a time-to-live: ``None`` (never expires), a finite number of seconds
    >= 0, a ``timedelta``, or a duration such as ``"90s"``, ``"15m"``, ``"2h"``, ``"7d"``.

    ``0`` means "always expired". Booleans, other strings, NaN, infinities and
    negative numbers are refused with an :class:`InvalidTTLError` naming the value.
    """
    if ttl is None:
        return None
    seconds = _as_seconds(ttl)
    if seconds is None:
        raise InvalidTTLError(
            f"ttl={ttl!r} is not valid: give None (never expires), a finite number of "
            "seconds >= 0 (0 means always expired) or a duration such as '90s', '15m', "
            "'2h', '7d'"
        )
    if isinstance(ttl, numbers.Real):  # a number keeps its type: 5 stays 5, 5.0 stays 5.0
        return int(seconds) if isinstance(ttl, numbers.Integral) else float(seconds)
    return int(seconds) if float(seconds).is_integer() else float(seconds)


def _mode_from_metadata(metadata: Any, where: str) -> str | None:
    if isinstance(metadata, dict) and metadata.get("persist_mode") is not None:
        return validate_mode(metadata["persist_mode"], where)
    return None


def resolve_mode(call_mode: Any, entry: Any) -> str:
    """The persist mode for one access to a catalog entry.

    Highest precedence first: the call's ``persist_mode=`` (or ``persist=``),
    ``open_catalog(..., persist_mode=...)`` when given explicitly (for a
    nested catalog: on it or on any catalog it is nested in), the entry's YAML
    ``metadata: {persist_mode: ...}``, the catalog YAML's top-level
    ``metadata: {persist_mode: ...}`` (the entry's catalog first, then the
    ones it is nested in), ``intake.conf["persist_mode"]``, then ``"default"``.
    """
    if call_mode is not None:
        return validate_mode(call_mode, "the call's persist_mode")
    # the entry's catalog, then the catalogs it is nested in, nearest first
    cats: list = []
    cat = getattr(entry, "_catalog", None)
    while cat is not None and all(cat is not c for c in cats) and len(cats) < 32:
        cats.append(cat)
        cat = getattr(cat, "cat", None)
    for cat in cats:
        if "persist_mode" in (getattr(cat, "_captured_init_kwargs", None) or {}):
            return validate_mode(cat.pmode, "open_catalog(persist_mode=...)")
    mode = _mode_from_metadata(
        getattr(entry, "_metadata", None), f"the metadata of entry {getattr(entry, 'name', '?')!r}"
    )
    if mode:
        return mode
    for cat in cats:
        mode = _mode_from_metadata(
            getattr(cat, "metadata", None), f"the metadata of catalog {getattr(cat, 'name', '?')!r}"
        )
        if mode:
            return mode
    conf_mode = _conf().get("persist_mode")
    if conf_mode is not None:
        return validate_mode(conf_mode, 'intake.conf["persist_mode"]')
    return DEFAULT_MODE


def declared_persist(entry: Any) -> dict | None:
    """The entry's YAML ``metadata: {persist: {ttl: ..., <writer kwargs>}}``, validated.

    Returns ``None`` when the entry declares nothing; ``{}`` for ``persist: true``.
    """
    md = getattr(entry, "_metadata", None)
    if not isinstance(md, dict) or "persist" not in md:
        return None
    spec = md["persist"]
    if spec is True or spec == {}:
        return {}
    if spec in (False, None):
        return None
    if not isinstance(spec, dict):
        raise PersistSettingError(
            f"metadata.persist of entry {getattr(entry, 'name', '?')!r} is {spec!r}: "
            "give a mapping such as {ttl: 3600} (writer keyword arguments may follow), or true"
        )
    spec = dict(spec)
    try:
        spec["ttl"] = validate_ttl(spec.get("ttl"))
    except InvalidTTLError as e:
        raise InvalidTTLError(f"metadata.persist of entry {getattr(entry, 'name', '?')!r}: {e}") from None
    if "revalidate" in spec:
        spec["revalidate"] = validate_revalidate(
            spec["revalidate"], f"metadata.persist.revalidate of entry {getattr(entry, 'name', '?')!r}")
    # a pipeline's keys are the entry's, not the writer's (see pipeline.py and schedule.py)
    where = f"metadata.persist of entry {getattr(entry, 'name', '?')!r}"
    validate_depends_on(spec.pop("depends_on", None), where)
    validate_schedule(spec.pop("schedule", None), where)
    return spec


def validate_depends_on(value: Any, where: str = "depends_on") -> list[str]:
    """The upstreams an entry declares: entry names of its own catalog, or
    ``other_catalog.yaml:entry`` (relative to its catalog's folder)."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v.strip() for v in items):
        raise PersistSettingError(
            f"{where}: depends_on={value!r}: give a list of entry names, each 'entry' of the "
            "same catalog or 'other_catalog.yaml:entry'"
        )
    return [v.strip() for v in items]


def validate_schedule(value: Any, where: str = "schedule") -> str | None:
    """A cron expression (five fields: minute hour day month weekday), checked
    with croniter when it is installed."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value.split()) not in (5, 6):
        raise PersistSettingError(
            f"{where}: schedule={value!r} is not a cron expression: give five fields "
            "(minute hour day-of-month month day-of-week), e.g. '*/15 * * * *'"
        )
    try:
        from croniter import croniter
    except ImportError:  # checked again by `intake-persist schedule`, which needs it
        return value
    if not croniter.is_valid(value):
        raise PersistSettingError(
            f"{where}: schedule={value!r} is not a valid cron expression, e.g. '*/15 * * * *' "
            "(every 15 minutes) or '0 3 * * *' (03:00 every day)"
        )
    return value


def persist_storage_options() -> dict:
    """Extra fsspec options for the persist location (``intake.conf["persist_storage_options"]``)."""
    return dict(_conf().get("persist_storage_options") or {})


def validate_keep(keep: Any, where: str = "keep") -> int | None:
    """``None`` (keep every version) or a whole number >= 1."""
    if keep is None:
        return None
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise PersistSettingError(
            f"{where}={keep!r}: give None (keep all versions) or a whole number >= 1"
        )
    return keep


#: the values of ``revalidate`` (a ``persist()`` argument, or a key of ``persist:``)
REVALIDATE = (True, False, "on-access")


def validate_revalidate(value: Any, where: str = "revalidate") -> bool | str:
    """``True`` (compare the original's fingerprint when a copy expires, re-read
    only if it changed), ``False`` (always re-read) or ``"on-access"`` (compare
    at every catalog access; no ttl)."""
    if value is None:
        return True
    if isinstance(value, str) and value.strip().lower() in ("on-access", "on_access"):
        return "on-access"
    if value not in REVALIDATE or not isinstance(value, bool):
        raise PersistSettingError(
            f"{where}={value!r}: give true (check the original when the copy expires, "
            "re-read it only if it changed), false (always re-read) or 'on-access'"
        )
    return value


def persist_keep() -> int | None:
    """``intake.conf["persist_keep"]``: versions to keep per source (``None``: all)."""
    return validate_keep(_conf().get("persist_keep"), 'intake.conf["persist_keep"]')


#: retention after a persist may leave versions replaced less than this many seconds
#: ago, for readers who were just handed them; by default ``keep`` means exactly that
DEFAULT_PRUNE_GRACE = 0.0


def _seconds_setting(key: str, default: float, zero_ok: bool) -> float:
    """``intake.conf[key]`` as finite seconds (>= 0, or > 0 unless ``zero_ok``)."""
    value = _conf().get(key)
    if value is None:
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if not ((seconds >= 0 if zero_ok else seconds > 0) and math.isfinite(seconds)):
        raise PersistSettingError(
            f'intake.conf["{key}"]={value!r}: give seconds {">=" if zero_ok else ">"} 0'
        )
    return seconds


def prune_grace() -> float:
    """``intake.conf["persist_prune_grace"]``: seconds a replaced version survives retention."""
    return _seconds_setting("persist_prune_grace", DEFAULT_PRUNE_GRACE, zero_ok=True)


#: seconds a store operation waits for a lock another process holds
DEFAULT_LOCK_TIMEOUT = 120.0


def lock_timeout() -> float:
    """``intake.conf["persist_lock_timeout"]`` (``INTAKE_PERSIST_LOCK_TIMEOUT``): seconds
    to wait for a lock held by another process before giving up with an error."""
    return _seconds_setting("persist_lock_timeout", DEFAULT_LOCK_TIMEOUT, zero_ok=False)


def validate_seconds(delta: Any, name: str) -> float:
    """Seconds >= 0 from a number, a ``datetime.timedelta`` or a duration such as ``"7d"``."""
    seconds = _as_seconds(delta)
    if seconds is None:
        raise PersistSettingError(
            f"{name}={delta!r}: give seconds >= 0, a datetime.timedelta or a duration "
            "such as '90s', '15m', '2h', '7d'"
        )
    return float(seconds)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``2h``, ``7d`` or ``1w``."""
    value = text.strip().lower()
    try:
        if value and value[-1] in _UNITS:
            seconds = float(value[:-1]) * _UNITS[value[-1]]
        else:
            seconds = float(value)
    except ValueError:
        raise PersistSettingError(
            f"{value!r} is not a duration: give seconds or a number with s, m, h, d or w"
        ) from None
    if seconds < 0:
        raise PersistSettingError(f"{value!r}: a duration cannot be negative")
    return seconds


def positive_int(text: str) -> int:
    """A whole number >= 1 from its text."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise PersistSettingError(f"{text!r}: give a whole number >= 1")
    return value


def epoch(at: Any) -> float:
    """Seconds since the epoch for a datetime (naive means local time), a date, an
    ISO 8601 string or a number of seconds."""
    if isinstance(at, _dt.datetime):
        return at.timestamp()
    if isinstance(at, _dt.date):
        return _dt.datetime(at.year, at.month, at.day).timestamp()
    if isinstance(at, (int, float)) and not isinstance(at, bool):
        return float(at)
    if isinstance(at, str):
        try:
            return epoch(_dt.datetime.fromisoformat(at))
        except ValueError:
            pass
    raise InvalidTimeError(
        f"at={at!r}: give a datetime, a date, an ISO 8601 string or epoch seconds"
    )
