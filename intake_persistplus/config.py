"""Configuration: where the store lives, which persist mode applies, what a TTL may be.

Everything here reads ``intake.conf`` at call time, so changing
``intake.conf["persist_path"]`` (or ``"persist_mode"``) in a running process
takes effect on the next store operation.
"""

from __future__ import annotations

import math
import numbers
import os
import posixpath
from typing import Any

MODES = ("always", "default", "never")
DEFAULT_MODE = "default"


class PersistSettingError(ValueError):
    """A persistence setting (mode, ttl, ``persist:`` block) that cannot be used."""


class InvalidPersistModeError(PersistSettingError):
    """A ``persist_mode`` that is not one of ``always``, ``default``, ``never``."""


class InvalidTTLError(PersistSettingError):
    """A ``ttl`` that is not ``None`` or a finite number of seconds >= 0."""


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
    made absolute and ``~`` is expanded.
    """
    path = _conf().get("persist_path") or default_persist_path()
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


def validate_ttl(ttl: Any) -> float | int | None:
    """Check a time-to-live in seconds: ``None`` (never expires) or finite and >= 0.

    ``0`` means "always expired". Booleans, strings, NaN, infinities and
    negative numbers are refused with an :class:`InvalidTTLError` naming the value.
    """
    if ttl is None:
        return None
    ok = (
        isinstance(ttl, numbers.Real)
        and not isinstance(ttl, bool)
        and math.isfinite(ttl)
        and ttl >= 0
    )
    if not ok:
        raise InvalidTTLError(
            f"ttl={ttl!r} is not valid: give None (never expires) or a finite "
            "number of seconds >= 0 (0 means always expired)"
        )
    return int(ttl) if isinstance(ttl, numbers.Integral) else float(ttl)


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
    return spec


def persist_storage_options() -> dict:
    """Extra fsspec options for the persist location (``intake.conf["persist_storage_options"]``)."""
    return dict(_conf().get("persist_storage_options") or {})


def persist_keep() -> int | None:
    """``intake.conf["persist_keep"]``: versions to keep per source (``None``: all)."""
    value = _conf().get("persist_keep")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f'intake.conf["persist_keep"]={value!r}: give a whole number >= 1, or None to keep all'
        )
    return value


def prune_grace(default: float) -> float:
    """``intake.conf["persist_prune_grace"]``: seconds a replaced version survives retention."""
    value = _conf().get("persist_prune_grace")
    if value is None:
        return default
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = -1.0
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(
            f'intake.conf["persist_prune_grace"]={_conf().get("persist_prune_grace")!r}: '
            "give seconds >= 0"
        )
    return value
