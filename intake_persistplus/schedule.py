"""Refreshing trains on a schedule.

An entry declares when its train is refreshed with a cron expression,
``metadata: {persist: {schedule: "*/15 * * * *"}}`` (parsed by croniter).
An entry is *due* when its schedule fired (at its last time up to now) after
its copy was last written or found unchanged; a never persisted entry is due
at once. :func:`run_due` refreshes the train of every due entry, upstreams
first (:meth:`.PersistStore.refresh_train`, policy ``"schedule"``), and
:func:`serve` does so whenever the next one is due, until told to stop.

Two schedulers on one store never refresh a source twice for one firing:
each refresh happens under that source's refresh lock, and a source written
or checked since the firing is left alone (``not_before``).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import validate_schedule
from .errors import PersistSettingError
from .pipeline import label_of

logger = logging.getLogger(__name__)


def _croniter() -> Any:
    try:
        from croniter import croniter
    except ImportError:
        raise PersistSettingError("schedules need croniter: pip install 'intake-persistplus[schedule]'") from None
    return croniter


@dataclass
class Scheduled:
    """An entry with a schedule: its original (never redirected) and cron expression."""

    catalog: str
    entry: str
    cron: str
    source: Any

    @property
    def label(self) -> str:
        return label_of(self.source)

    def last_firing(self, now: float) -> float:
        """The schedule's last time at or before ``now`` (epoch seconds)."""
        return float(_croniter()(self.cron, now + 1e-6).get_prev(float))

    def next_firing(self, now: float) -> float:
        return float(_croniter()(self.cron, now).get_next(float))


def scheduled(catalogs: list[str], refused: list[str] | None = None) -> list[Scheduled]:
    """The entries of ``catalogs`` that declare a schedule. An entry whose
    schedule is not a cron expression is left out, and why goes into
    ``refused`` (when given; else it raises).

    Raises
    ------
    PersistSettingError
        when no entry declares a usable schedule.
    """
    import intake

    _croniter()
    out = []
    for path in catalogs:
        # the catalog in its own mode: a derived step reads its targets through it,
        # so from their copies
        cat = intake.open_catalog(path)
        for name in cat:
            source = cat[name](persist_mode="never")
            spec = (getattr(source, "metadata", None) or {}).get("persist")
            if isinstance(spec, dict) and spec.get("schedule") is not None:
                try:
                    cron = validate_schedule(spec["schedule"], f"metadata.persist of entry {name!r} in {path}")
                except PersistSettingError as e:
                    if refused is None:
                        raise
                    refused.append(str(e))
                    continue
                out.append(Scheduled(path, name, cron, source))
    if not out:
        raise PersistSettingError(f"no entry of {', '.join(catalogs)} declares a usable persist: schedule "
                                  "(metadata: {persist: {schedule: '*/15 * * * *'}})"
                                  + "".join(f"; {r}" for r in refused or []))
    return out


def due(store: Any, item: Scheduled, now: float) -> float | None:
    """The firing ``item`` is due for, or None when its copy is newer."""
    fired = item.last_firing(now)
    rec = store.lookup(item.source)
    last = max(rec.timestamp, rec.checked or 0.0) if rec is not None else float("-inf")
    return fired if last < fired else None


def run_due(store: Any, items: list[Scheduled], now: float | None = None,
            report: Callable[[Scheduled, list], None] | None = None) -> list:
    """Refresh the train of every due item; return every step's outcome."""
    now = time.time() if now is None else now
    outcomes = []
    for item in items:
        try:
            fired = due(store, item, now)
            if fired is None:
                continue
            logger.info("%s is due (schedule %r fired at %s)", item.label, item.cron, time.ctime(fired))
            steps = store.refresh_train(item.source, policy="schedule", original=item.source,
                                        not_before=fired)
        except Exception as e:  # a cycle, an upstream gone: this train only; the next firing tries again
            from .train import FAILED, Outcome

            logger.warning("the train of %s cannot run: %s", item.label, e)
            steps = [Outcome(item.label, "", FAILED, error=f"{type(e).__name__}: {e}")]
        outcomes += steps
        if report is not None:
            report(item, steps)
    return outcomes


def serve(store: Any, items: list[Scheduled], report: Callable[[Scheduled, list], None] | None = None,
          stop: threading.Event | None = None, clock: Callable[[], float] = time.time) -> None:
    """Refresh each scheduled train (:func:`scheduled`) when due until ``stop``
    is set (SIGTERM and SIGINT set it when this runs in the main thread). A
    failing step is logged and the train is tried again at its next firing."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set():
        try:
            run_due(store, items, clock(), report)
        except Exception as e:  # the store unreachable for a while, say: the next firing tries again
            logger.error("a scheduled run failed: %s: %s", type(e).__name__, e)
        now = clock()
        wake = min(item.next_firing(now) for item in items)
        logger.info("next run at %s", time.ctime(wake))
        stop.wait(max(0.0, wake - clock()))
