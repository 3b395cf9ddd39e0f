"""Pipelines: which persisted sources a source is made from, and the train of
steps that leads to it.

A source's *upstreams* are found two ways:

* intake's derived sources (``intake.source.derived``: ``AliasSource``,
  ``GenericTransform``, ``DataFrameTransform``, ``Columns``,
  ``DataFramePipeline``) read their ``targets`` from their catalog: each
  target is an upstream, found automatically;
* any entry may declare more in its ``persist:`` block,
  ``depends_on: [entry, other_catalog.yaml:entry]`` (an ``other_catalog``
  path relative to the entry's own catalog file).

A derived source reads its targets through the catalog, so a persisted
upstream is read from its copy. Each persisted version records, per upstream,
the version and content hash of the upstream's copy it was made from
(``Record.built_from``): a copy is *stale* when an upstream's current copy
holds other data (:func:`changed`).

:func:`upstream_train` builds the steps leading to a source (the source's
catalog is read again; nothing is persisted or read), refusing a cycle (its
entries named in order) and an upstream that is not there (named, with the
entry that needs it).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from .config import validate_depends_on
from .errors import PipelineError
from .provenance import made_from
from .record import Record

logger = logging.getLogger(__name__)


@dataclass
class Step:
    """One source of a train: its original (never redirected) and its upstreams."""

    token: str
    label: str
    source: Any
    upstream: dict[str, str] = field(default_factory=dict)  # token -> the ref that names it


def renew(source: Any) -> Any:
    """A new object for ``source`` when a catalog entry made it. intake keeps
    an entry's default source, and a derived source keeps the dask graph of
    the data it first read (its upstream's copy at the time): a train never
    reads through one made before it started."""
    entry = source.__dict__.get("_entry") if hasattr(source, "__dict__") else None
    if entry is None or not hasattr(entry, "clear_cached_default_source"):
        return source
    entry.clear_cached_default_source()
    return entry(persist_mode="never", **(source.__dict__.get("_pp_call") or {}))


def label_of(source: Any) -> str:
    """How a step is named: its entry name, with its user parameters."""
    name = getattr(source, "name", None) or "source"
    params = source.__dict__.get("_pp_call") or {}
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in params.items())})" if params else name


def _derived_refs(source: Any) -> list[tuple[str, dict, dict]]:
    """(target, its keyword arguments, catalog keyword arguments) of a derived source."""
    try:
        from intake.source.derived import AliasSource, DerivedSource
    except ImportError:  # pragma: no cover - intake without v1 derived sources
        return []
    if isinstance(source, AliasSource):
        target = (source.mapping or {}).get(source.target, source.target)
        return [(target, dict(source.kwargs or {}), dict(source.cat_kwargs or {}))] if isinstance(
            target, str) else []
    if isinstance(source, DerivedSource):
        kwargs = source.__dict__.get("_kwargs") or {}
        cat_kwargs = source.__dict__.get("_cat_kwargs") or {}
        return [(t, dict(kwargs.get(t) or {}) if isinstance(kwargs.get(t), dict) else {}, dict(cat_kwargs))
                for t in (source.targets or []) if isinstance(t, str)]
    return []


def is_derived(source: Any) -> bool:
    """Whether ``source`` is one of intake's derived sources: its only original
    is its upstreams."""
    return bool(_derived_refs(source))


def declared_refs(source: Any) -> list[str]:
    """The ``depends_on`` of a source's ``persist:`` block."""
    spec = (getattr(source, "metadata", None) or {}).get("persist")
    if not isinstance(spec, dict):
        return []
    return validate_depends_on(spec.get("depends_on"),
                               f"metadata.persist of entry {getattr(source, 'name', '?')!r}")


def refs(source: Any) -> list[tuple[str, dict, dict, bool]]:
    """Every upstream reference of ``source``: (ref, keyword arguments, catalog
    keyword arguments, declared in ``depends_on``)."""
    out = [(t, kw, ckw, False) for t, kw, ckw in _derived_refs(source)]
    out += [(ref, {}, {}, True) for ref in declared_refs(source)]
    return out


def _split(ref: str) -> tuple[str | None, str]:
    """(catalog, entry) of ``catalog.yaml:entry``; (None, entry) for an entry."""
    head, sep, tail = ref.rpartition(":")
    if not sep or (len(head) == 1 and head.isalpha()):  # no colon, or a Windows drive
        return None, ref
    return head, tail


def resolve(source: Any, ref: str, kwargs: dict, cat_kwargs: dict, declared: bool) -> Any:
    """The original (never redirected) of the upstream ``ref`` of ``source``.

    Raises
    ------
    PipelineError
        naming the upstream and the entry that needs it, when it is not there.
    """
    import intake

    catalog, entry = _split(ref)
    needs = label_of(source)
    cat = getattr(source, "cat", None)
    if cat is None:  # made from a record: its references are not opened on the record's word
        raise PipelineError(f"{needs!r} needs {ref!r}, which is found only from the catalog "
                            f"{needs!r} is read from, and this one was not made by a catalog")
    if catalog is None:
        where = getattr(cat, "path", None) or getattr(cat, "name", None) or "its catalog"
    else:
        if declared and "://" not in catalog and not os.path.isabs(catalog):
            home = made_from(source)[0]  # a declared path is relative to the entry's catalog
            if home is not None and "://" not in home:
                # normalised: intake puts the catalog's folder into its sources' paths
                # (and so their tokens) as it is given
                catalog = os.path.normpath(os.path.join(os.path.dirname(home), catalog))
        where = catalog
        try:
            cat = intake.open_catalog(catalog, **cat_kwargs)
        except Exception as e:
            raise PipelineError(f"{needs!r} needs {ref!r}, but its catalog {catalog!r} cannot be "
                                f"opened ({type(e).__name__}: {e})") from None
    if entry not in cat:
        raise PipelineError(f"{needs!r} needs {ref!r}, which is not an entry of {where!r} "
                            f"(its entries: {', '.join(sorted(cat)[:20]) or 'none'})")
    return renew(cat[entry](persist_mode="never", **kwargs))


def upstreams(source: Any, token_of: Any) -> dict[str, tuple[str, Any]]:
    """The direct upstreams of ``source``: token -> (ref, original)."""
    out: dict[str, tuple[str, Any]] = {}
    for ref, kwargs, cat_kwargs, declared in refs(source):
        up = resolve(source, ref, kwargs, cat_kwargs, declared)
        out.setdefault(token_of(up), (ref, up))
    return out


def upstream_train(source: Any, token_of: Any) -> dict[str, Step]:
    """Every step leading to ``source`` (itself last), upstreams before the steps
    that need them.

    Raises
    ------
    PipelineError
        for a cycle (its entries in order) or an upstream that is not there.
    """
    steps: dict[str, Step] = {}
    path: list[tuple[str, str]] = []  # (token, label) being visited

    def visit(src: Any, token: str) -> None:
        if token in steps:
            return
        if any(t == token for t, _ in path):
            names = [lbl for t, lbl in path[[t for t, _ in path].index(token):]] + [label_of(src)]
            raise PipelineError(f"the upstreams form a cycle: {' -> '.join(names)}; remove one of "
                                "these targets or depends_on entries")
        path.append((token, label_of(src)))
        found = upstreams(src, token_of)
        for up_token, (_, up) in found.items():
            visit(up, up_token)
        path.pop()
        steps[token] = Step(token, label_of(src), src, {t: ref for t, (ref, _) in found.items()})

    visit(source, token_of(source))
    return steps


def changed(built: dict, current: Record | None) -> bool:
    """Whether the upstream copy ``current`` holds other data than the one a
    version was made from (``built``: its ``built_from`` item): by content
    hash when both have one (a refresh that wrote the same data is no change),
    else by version."""
    if current is None:
        return False  # no copy now: nothing newer to make it from
    if built.get("content") and current.content:
        return built["content"] != current.content
    return built.get("version") != current.version


def built_from(source: Any, token_of: Any, lookup: Any, token: str | None = None) -> dict[str, dict]:
    """The ``built_from`` of a version of ``source`` about to be written: its
    upstreams' current copies (taken before its data is read: an upstream
    refreshed meanwhile is seen as a change next time).

    Raises
    ------
    PipelineError
        for a cycle of upstreams or an upstream that is not there."""
    if not refs(source):
        return {}
    if getattr(source, "cat", None) is None and token is not None and (previous := lookup(token)):
        # made from its record (its catalog is gone, or not one to open): the
        # upstreams it had, as they are now
        logger.info("the upstreams of %s are taken from its record", token)
        return {t: {"version": now.version if (now := lookup(t)) else None,
                    "content": now.content if now else None, "ref": b.get("ref")}
                for t, b in previous.built_from.items()}
    # the whole train: a cycle is refused here, before anything is written
    steps = upstream_train(source, token_of)
    out = {}
    for token, ref in steps[next(reversed(steps))].upstream.items():
        rec = lookup(token)
        out[token] = {"version": rec.version if rec else None, "content": rec.content if rec else None,
                      "ref": ref}
    return out
