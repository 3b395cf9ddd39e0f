"""Helpers shared by the persisters."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def lazy_or_eager(source: Any) -> tuple[Any, bool]:
    """``(data, is_lazy)``: ``source.to_dask()`` where it works, else ``source.read()``.

    ``to_dask()`` may be missing (``NotImplementedError``) or broken for some
    inputs (intake 2's ``NPySource.to_dask()`` on a single ``.npy`` file); only
    building the lazy object is tried here, so a failure while *computing* it
    is still reported.
    """
    to_dask = getattr(source, "to_dask", None)
    if to_dask is not None:
        try:
            return to_dask(), True
        except NotImplementedError:
            pass
        except Exception as e:  # a broken to_dask: fall back, but say so
            logger.info("to_dask() of %r failed (%s); persisting from read()", source, e)
    return source.read(), False


def check_kwargs(kwargs: dict, allowed: set[str], what: str, examples: str) -> dict:
    """Refuse writer arguments outside ``allowed``, naming them."""
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise TypeError(
            f"unknown {what} writer argument(s) {', '.join(map(repr, unknown))}; "
            f"accepted: {examples}"
        )
    return kwargs


def progress_enabled() -> bool:
    """Show progress bars: only in a terminal, unless ``intake.conf["persist_progress"]`` is False."""
    import sys

    from intake import conf

    setting = conf.get("persist_progress", True)
    if setting is False or str(setting).strip().lower() in ("0", "false", "no", "off"):
        return False
    stream = sys.stderr
    return bool(getattr(stream, "isatty", None) and stream.isatty())


def compute(*tasks: Any) -> tuple:
    """``dask.compute(*tasks)`` on the active scheduler (a distributed client's workers
    if there is one), with a progress bar in a terminal for anything lasting over a second."""
    import dask

    if not progress_enabled():
        return dask.compute(*tasks)
    client = None
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        client = None
    if client is None:
        import sys

        from dask.diagnostics import ProgressBar

        with ProgressBar(minimum=1.0, out=sys.stderr):
            return dask.compute(*tasks)
    from distributed import progress

    futures = client.compute(list(tasks))
    progress(futures)
    return tuple(client.gather(futures))
