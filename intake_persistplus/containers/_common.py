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
            logger.info("to_dask() of %s failed (%s); persisting from read()", label(source), type(e).__name__)
    return source.read(), False


#: the parquet schema metadata key of what parquet cannot say, which the copy's read() restores
OURS = b"intake_persistplus"


class Hashing:
    """A file being written, wrapped to compute the SHA-256 of what goes into it
    (the content hash of a version, computed while writing: no second read)."""

    def __init__(self, file: Any):
        import hashlib

        self._file, self._hash, self.size = file, hashlib.sha256(), 0

    def write(self, data: Any) -> Any:
        view = memoryview(data).cast("B")
        self._hash.update(view)
        self.size += view.nbytes
        return self._file.write(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def __getattr__(self, name: str) -> Any:  # tell, flush, closed...: the file's own
        return getattr(self._file, name)


def content_hash(files: Any) -> str:
    """The content hash of a version from its files' ``(name, size, sha256)``,
    names relative to its data folder (``/``-separated). The store checks a
    version's files against it before another version shares them."""
    import hashlib

    whole = hashlib.sha256()
    for name, size, digest in sorted(files):
        whole.update(f"{name}\t{size}\t{digest}\n".encode())
    return whole.hexdigest()


def label(source: Any) -> str:
    """How a source is named in logs and messages: never its arguments, which may
    hold credentials, only its name and class."""
    return f"{getattr(source, 'name', None) or 'source'!r} ({type(source).__name__})"


def check_kwargs(kwargs: dict, allowed: set[str], what: str, examples: str) -> dict:
    """Refuse writer arguments outside ``allowed``, naming them."""
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise TypeError(
            f"unknown {what} writer argument(s) {', '.join(map(repr, unknown))}; "
            f"accepted: {examples}"
        )
    return kwargs


def progress_mode() -> str | None:
    """How persists show progress: ``None`` (not at all), ``"terminal"`` (a text bar,
    only when stderr is a terminal: the default) or ``"forced"`` (always, with tqdm,
    which Jupyter renders as a widget), from ``intake.conf["persist_progress"]``."""
    import sys

    from intake import conf

    setting = conf.get("persist_progress")
    text = str(setting).strip().lower()
    if setting is False or text in ("0", "false", "no", "off"):
        return None
    if setting is True or text in ("1", "true", "yes", "on", "force", "always"):
        return "forced"
    stream = sys.stderr
    return "terminal" if getattr(stream, "isatty", None) and stream.isatty() else None


def _forced_bar() -> Any:
    """A dask callback drawing a tqdm bar of finished tasks (``tqdm.auto``: a widget
    in Jupyter, text elsewhere); dask's own text bar when tqdm is not installed."""
    import sys

    try:
        from tqdm.auto import tqdm
    except ImportError:
        from dask.diagnostics import ProgressBar

        return ProgressBar(minimum=0, out=sys.stderr)
    from dask.callbacks import Callback

    class TqdmBar(Callback):
        def _start_state(self, dsk, state):
            total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
            self._bar = tqdm(total=total, desc="persisting", unit="task", file=sys.stderr)

        def _posttask(self, key, result, dsk, state, worker_id):
            self._bar.update(1)

        def _finish(self, dsk, state, errored):
            self._bar.close()

    return TqdmBar()


def compute(*tasks: Any) -> tuple:
    """``dask.compute(*tasks)`` on the active scheduler (a distributed client's workers
    if there is one), with a progress bar in a terminal for anything lasting over a second."""
    import dask

    mode = progress_mode()
    if mode is None:
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

        bar = ProgressBar(minimum=1.0, out=sys.stderr) if mode == "terminal" else _forced_bar()
        with bar:
            return dask.compute(*tasks)
    from distributed import progress

    futures = client.compute(list(tasks))
    progress(futures)
    return tuple(client.gather(futures))


def version_gone(source: Any, error: BaseException) -> BaseException:
    """The error for reading a persisted version whose files were removed since
    ``source`` was handed out: what happened, and how to get the current copy."""
    from ..errors import VersionGoneError

    md = getattr(source, "metadata", None) or {}
    name = md.get("original_name") or "<entry>"
    params = md.get("original_parameters") or {}
    call = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return VersionGoneError(
        f"version {md.get('persist_version')!r} of {name!r} (token {md.get('original_tok')}) "
        "is no longer in the persist store: it was pruned or replaced after this source was "
        f"handed out ({error}). Get the current copy again: cat.{name}({call}), or "
        f"store[{md.get('original_tok')!r}]"
    )


def guard_gone(method: Any) -> Any:
    """Wrap a data method of a persisted source: a missing file becomes :func:`version_gone`."""
    import functools

    @functools.wraps(method)
    def guarded(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except FileNotFoundError as e:
            from ..errors import VersionGoneError

            if isinstance(e, VersionGoneError):
                raise
            raise version_gone(self, e) from e

    return guarded


def writer_kwargs(table: Any, kw: dict) -> dict:
    """The parquet writer's arguments for ``table``: dictionary encoding on the
    columns where it pays, unless the user's arguments say otherwise:
    categoricals, and text columns whose first values repeat (fewer distinct
    values than half of the first 65,536); on numbers, and on text that is
    mostly distinct, it costs time for little."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if "use_dictionary" in kw:
        return dict(kw)
    kept = []
    for field in table.schema:
        if pa.types.is_dictionary(field.type):
            kept.append(field.name)  # categoricals keep their categories' order
        elif pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            head = table.column(field.name).slice(0, 1 << 16)
            if len(head) < 64 or pc.count_distinct(head).as_py() * 2 <= len(head):
                kept.append(field.name)
    return {**kw, "use_dictionary": kept}


def is_local(fs: Any) -> bool:
    """Whether an fsspec file system is the local disk."""
    protocol = fs.protocol
    return "file" in (protocol if isinstance(protocol, (tuple, list)) else (protocol,))


def write_buffer(buf: Any, fs: Any, path: str) -> tuple[int, str]:
    """Write a whole file from memory in one call; return (bytes, SHA-256)."""
    import hashlib

    view = memoryview(buf)
    digest = hashlib.sha256(view).hexdigest()  # releases the GIL on big buffers
    with fs.open(path, "wb") as f:
        f.write(view)
    return view.nbytes, digest


def write_table(table: Any, fs: Any, path: str, kw: dict) -> tuple[int, str]:
    """Write an arrow table as one parquet file; return (bytes written, SHA-256).
    On a local disk pyarrow writes the file itself and the hash is taken from
    it afterwards (from the page cache); elsewhere the file is encoded in
    memory and written in one call."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    kw = writer_kwargs(table, kw)
    if not is_local(fs):
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, **kw)
        return write_buffer(sink.getvalue(), fs, path)
    import hashlib

    pq.write_table(table, path, **kw)
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
