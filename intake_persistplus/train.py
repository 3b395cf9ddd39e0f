"""Refreshing a train: the steps leading to a source, or built from it, in
dependency order; the part of
:class:`~intake_persistplus.persist_store.PersistStore` that runs them and
shows them (it uses the store's ``lookup``, ``add``, ``refresh``,
``revalidate``, ``checked_now``, ``records``, ``backtrack``, ``get_tok``,
``_writable`` and ``_writing``).

What each step does depends on why the train runs (``policy``):

* ``"demand"`` (``store.refresh(x, upstream=True)``, ``refresh --train``):
  the steps that read only their originals are read again, the source named
  is written again, and a step in between is written again only when one of
  its upstreams now holds other data than it was made from;
* ``"stale"`` (a catalog access to a downstream copy) and ``"schedule"``
  (``intake-persist schedule``): a step whose copy expired (``stale``) or
  whose schedule is due (``schedule``) is revalidated first: a derived step by
  its upstreams, any other by its original's fingerprint; it is written again
  only when that says its data changed, or when an upstream changed.

A step never persisted is persisted (with its entry's ``persist:`` settings).
Independent steps run at the same time on dask's threaded scheduler (the data
work of each goes to the ``distributed`` cluster when one is active). A step
that fails stops the steps that need it, not the others.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from .config import declared_persist
from .errors import PipelineError
from .pipeline import Step, changed, is_derived, label_of, renew, upstream_train
from .provenance import trusted_catalog
from .record import Record
from .secrets import scrub_text

logger = logging.getLogger(__name__)

#: what a step did
PERSISTED, REFRESHED, REVALIDATED, UNCHANGED, FRESH = (
    "persisted", "refreshed", "revalidated", "unchanged", "fresh")
#: a step whose entry declares no ``persist:``: read from its original by the steps below
READ_THROUGH = "not persisted"
DONE_ELSEWHERE, SKIPPED, FAILED = "done elsewhere", "skipped", "failed"


@dataclass
class Outcome:
    """What one step of a train did."""

    step: str
    token: str
    outcome: str
    seconds: float = 0.0
    bytes: int | None = None  # written by this step
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class _Entry:
    """What :func:`.config.declared_persist` reads of a catalog entry, for a source."""

    def __init__(self, source: Any):
        self.name = getattr(source, "name", None)
        self._metadata = getattr(source, "metadata", None) or {}


def _error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {scrub_text(' '.join(str(e).split()))}"[:500]


def _ordered(steps: dict[str, Step]) -> list[str]:
    """The steps' tokens, each after its upstreams among them.

    Raises
    ------
    PipelineError
        when recorded upstreams form a cycle."""
    order: list[str] = []
    done: set[str] = set()
    left = dict(steps)
    while left:
        ready = [t for t, s in left.items() if all(u in done or u not in steps for u in s.upstream)]
        if not ready:
            raise PipelineError("the recorded upstreams of " + ", ".join(s.label for s in left.values())
                                + " form a cycle")
        for t in ready:
            order.append(t)
            done.add(t)
            del left[t]
    return order


class StoreTrains:
    """See the module docstring."""

    # -- the graph -------------------------------------------------------------------
    def original_of(self, record: Record) -> Any:
        """The original source of ``record``: made by its catalog entry when that
        still makes the same source (so a derived source finds its targets),
        else from the record (:meth:`backtrack`). Only a catalog file the user
        owns, outside the store, is opened (:func:`.provenance.trusted_catalog`):
        the record naming it may have been written by anyone."""
        catalog = trusted_catalog(record.catalog, self.path)
        if catalog and record.entry:
            import intake

            try:
                cat = intake.open_catalog(catalog)
                if record.entry in cat:
                    src = renew(cat[record.entry](persist_mode="never", **record.parameters))
                    if self.get_tok(src) == record.token:
                        return src
            except Exception as e:
                logger.info("cannot make the original of %s from %s (%s): made from its record",
                            record.token, record.catalog, type(e).__name__)
        return self.backtrack(record.token)

    def _downstream_of(self, token: str) -> dict[str, list[Record]]:
        """Upstream token -> the records made from it (one pass over the store)."""
        out: dict[str, list[Record]] = {}
        for rec in self.records().values():
            for up in rec.built_from:
                out.setdefault(up, []).append(rec)
        return out

    def train_steps(self, x: Any, upstream: bool = True, downstream: bool = False,
                    original: Any = None) -> tuple[str, dict[str, Step]]:
        """(the token of ``x``, the steps a refresh of its train runs, in order;
        see :meth:`refresh_train`)."""
        if original is None:
            original = self.original_of(self.record(x)) if isinstance(x, str) else x
        original = renew(original)
        token = self.get_tok(original)
        if upstream:
            steps = upstream_train(original, self.get_tok)
        else:
            steps = {token: Step(token, label_of(original), original)}
        if downstream:
            below = self._downstream_of(token)
            queue = [token]
            while queue:
                for rec in below.get(queue.pop(), []):
                    if rec.token not in steps:
                        src = self.original_of(rec)
                        steps[rec.token] = Step(rec.token, label_of(src), src,
                                                {u: b.get("ref") or u for u, b in rec.built_from.items()})
                        queue.append(rec.token)
        return token, {t: steps[t] for t in _ordered(steps)}

    def train_stale(self, record: Record) -> bool:
        """Whether ``record``'s train needs work before it is served: an
        upstream's copy holds other data than it was made from, or a copy in
        its train has expired. Reads one head per step; no original is looked at."""
        seen: set[str] = set()

        def stale(rec: Record) -> bool:
            if rec.token in seen:
                return False
            seen.add(rec.token)
            if rec.expired():
                return True
            for up, built in rec.built_from.items():
                current = self.lookup(up)
                if current is None and built.get("version"):
                    return True  # the copy it was made from is gone (moved, removed): look again
                if changed(built, current) or (current is not None and stale(current)):
                    return True
            return False

        return stale(record)

    def dependencies(self, x: Any) -> dict:
        """``x`` and what it is made from, as recorded: a tree of nodes (token,
        name, version, age, state, ``upstream``)."""
        return self._node(self.get_tok(x), time.time(), set(), None)

    def dependents(self, x: Any) -> dict:
        """``x`` and what is made from it, as recorded: a tree of nodes (token,
        name, version, age, state, ``downstream``). Reads every entry once."""
        return self._node(self.get_tok(x), time.time(), set(), self._downstream_of(self.get_tok(x)))

    def _node(self, token: str, now: float, path: set, below: dict | None, ref: str | None = None,
              above_stale: bool = False) -> dict:
        rec = self.lookup(token)
        node: dict = {"token": token, "name": rec.label if rec else ref, "version": rec.version if rec else None,
                      "age": now - rec.timestamp if rec else None, "state": "not persisted"}
        if rec is not None:
            ups = {u: b for u, b in rec.built_from.items()}
            node["state"] = ("stale" if above_stale or any(changed(b, self.lookup(u)) for u, b in ups.items())
                             else "on access" if rec.revalidate == "on-access"
                             else "expired" if rec.expired(now) else "fresh")
        key = "upstream" if below is None else "downstream"
        if token in path:
            node["cycle"] = True
            node[key] = []
            return node
        path = path | {token}
        if below is None:
            node[key] = [self._node(u, now, path, None, b.get("ref")) for u, b in
                         (rec.built_from.items() if rec else [])]
            if rec is not None and any(n["state"] == "stale" for n in node[key]):
                node["state"] = "stale"  # made from a step that will change when refreshed
        else:
            node[key] = [self._node(r.token, now, path, below, above_stale=node["state"] == "stale")
                         for r in below.get(token, [])]
        return node

    # -- running it ------------------------------------------------------------------
    def refresh_train(self, x: Any, upstream: bool = True, downstream: bool = False,
                      policy: str = "demand", original: Any = None, not_before: float | None = None,
                      progress: Any = None) -> list[Outcome]:
        """Bring ``x``'s train up to date; return what each step did, in order.

        ``upstream``: the steps leading to ``x`` first; ``downstream``: then
        every step made from ``x``. ``policy``: see the module docstring.
        ``not_before``: a step written or checked since this time, from the
        upstream copies there are now, is left as it is (another scheduler
        did it). ``progress(outcome, steps done, steps)`` is called as each
        step ends.

        Raises
        ------
        PipelineError
            for a cycle or an upstream that is not there (before any step runs).
        """
        import dask

        target, steps = self.train_steps(x, upstream, downstream, original)
        tasks: dict[str, Any] = {}
        done = [0]
        lock = threading.Lock()

        def report(out: Outcome) -> None:
            if progress is not None:
                with lock:
                    done[0] += 1
                    progress(out, done[0], len(steps))

        def run(token: str, *ups: Outcome) -> Outcome:  # steps by token: dask never sees a source
            return self._run_step(steps[token], policy, token == target, not_before, report, *ups)

        task = dask.delayed(run, pure=False)
        for token, step in steps.items():
            tasks[token] = task(token, *[tasks[u] for u in step.upstream if u in tasks])
        return list(dask.compute(*tasks.values(), scheduler="threads"))

    def refresh_through(self, x: Any, upstream: bool, downstream: bool, original: Any = None) -> Any:
        """:meth:`refresh_train` on demand; the fresh copy of ``x``.

        Raises
        ------
        PipelineError
            naming each step that failed or was skipped."""
        failed = [o for o in self.refresh_train(x, upstream, downstream, original=original)
                  if o.outcome in (FAILED, SKIPPED)]
        if failed:
            raise PipelineError("the train did not refresh: " + "; ".join(
                f"{o.step}: {o.outcome} ({o.error})" for o in failed))
        return self[self.get_tok(original if original is not None else x)]

    def done_since(self, record: Record, not_before: float) -> bool:
        """Whether ``record``'s copy was written or checked since ``not_before``
        (by another scheduler, say) from the upstream copies there are now."""
        return max(record.timestamp, record.checked or 0.0) >= not_before and not any(
            changed(b, self.lookup(u)) for u, b in record.built_from.items())

    def _run_step(self, step: Step, policy: str, named: bool, not_before: float | None,
                  progress: Any, *ups: Outcome) -> Outcome:
        failed = [u.step for u in ups if u.outcome in (FAILED, SKIPPED)]
        if failed:
            out = Outcome(step.label, step.token, SKIPPED, error=f"upstream {', '.join(failed)} did not refresh")
        else:
            t0 = time.perf_counter()
            try:
                what, written = self._do_step(step, policy, named, not_before)
                out = Outcome(step.label, step.token, what, time.perf_counter() - t0, written)
            except Exception as e:
                logger.info("step %s of the train failed: %s", step.label, _error_text(e))
                out = Outcome(step.label, step.token, FAILED, time.perf_counter() - t0, error=_error_text(e))
        if progress is not None:
            progress(out)
        return out

    def _do_step(self, step: Step, policy: str, named: bool, not_before: float | None) -> tuple[str, int | None]:
        rec = self.lookup(step.token)
        if rec is None:  # its entry edited (same data)? its copy moves here, as on a catalog access
            rec = self.adopt(step.source, declared_persist(_Entry(step.source)))
        if rec is None:
            return self._first(step, named, not_before)
        # an upstream the version was not made from (it moved to a new token after
        # a catalog edit, say) counts as changed: nothing tells what it held
        ups = step.upstream or dict.fromkeys(rec.built_from)
        moved = [u for u in ups if u not in rec.built_from or changed(rec.built_from[u], self.lookup(u))]
        if moved or (named and policy == "demand"):
            return self._rewrite(step, rec, not_before)
        if policy == "demand":
            return self._rewrite(step, rec, not_before) if not rec.built_from else (UNCHANGED, None)
        if policy == "stale" and not rec.expired():
            return FRESH, None
        if not_before is not None and self.done_since(rec, not_before):
            return DONE_ELSEWHERE, None
        if is_derived(step.source) and all(self.lookup(u) is not None for u in step.upstream or rec.built_from):
            self.checked_now(rec)  # made only from copies of its upstreams, which did not change
            return REVALIDATED, None
        if self.revalidate(rec, step.source) is not None:
            return REVALIDATED, None
        return self._rewrite(step, rec, not_before)

    def _first(self, step: Step, named: bool, not_before: float | None) -> tuple[str, int | None]:
        """Persist a step never persisted, with its entry's ``persist:`` settings;
        with ``not_before`` (schedulers), under its refresh lock, and only once.
        An upstream whose entry declares no ``persist:`` is left alone: the steps
        below read it from its original."""
        spec = declared_persist(_Entry(step.source))
        if spec is None and not named:
            return READ_THROUGH, None
        spec = dict(spec or {})
        ttl = spec.pop("ttl", None)
        if not_before is None:
            return PERSISTED, self.add(step.source, ttl=ttl, **spec).metadata.get("persist_bytes")
        with self._writing(f"lock {step.token} for its first persist"), \
                self._writable().refresh_lock(step.token):
            if self.lookup(step.token) is not None:
                return DONE_ELSEWHERE, None
            return PERSISTED, self.add(step.source, ttl=ttl, **spec).metadata.get("persist_bytes")

    def _rewrite(self, step: Step, rec: Record, not_before: float | None) -> tuple[str, int | None]:
        """Read and write the step again, under its refresh lock; left alone when
        someone else did since ``not_before``, from the upstream copies there are now."""
        with self._writing(f"lock {step.token} for its refresh"), \
                self._writable().refresh_lock(step.token):
            current = self.lookup(step.token)
            if current is not None and not_before is not None and self.done_since(current, not_before):
                return DONE_ELSEWHERE, None
            new = self._refresh(step.token, step.source)
        return REFRESHED, new.metadata.get("persist_bytes")
