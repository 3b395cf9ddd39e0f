"""``source.export(path)``: a shareable copy of a source's data, outside the store.

The data is written in its container's format (the persister the store would
use) to ``path``, any fsspec URL. The return value is YAML text: a ``sources:``
block with one entry that opens the copy, with absolute paths and metadata
naming the original, so the text can be pasted into a catalog of your own and
``store.backtrack(exported_source)`` can remake the original.
"""

from __future__ import annotations

import time
from typing import Any

import yaml

from .config import normalize_path
from .errors import ExportLocationError
from .originals import is_persisted_source, made_as, made_metadata, source_state, tokenize
from .record import plain
from .secrets import scrub


def export(
    source: Any,
    path: str,
    overwrite: bool = False,
    storage_options: dict | None = None,
    **kwargs: Any,
) -> str:
    """Write ``source``'s data to ``path``; return the YAML of a catalog entry for it.

    Parameters
    ----------
    source
        any intake source (or a persisted copy, whose original is then recorded).
    path
        the folder to write, local or any fsspec URL (``s3://bucket/x``).
    overwrite
        replace what is at ``path``; otherwise a non-empty location is refused.
    storage_options
        fsspec options for ``path``. They are written into the returned YAML
        without their credentials (``key``, ``secret``, ``token``, ...), which
        readers supply through fsspec's configuration or their own catalog.
    **kwargs
        writer arguments of the container's persister.

    Raises
    ------
    ExportLocationError
        (a ``FileExistsError``) when ``path`` holds data and ``overwrite`` is False.
    """
    import fsspec

    from .containers import get_persister, written

    persister = get_persister(getattr(source, "container", None))
    if hasattr(persister, "check_kwargs"):
        persister.check_kwargs(dict(kwargs))
    url = normalize_path(path)
    fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
    if fs.exists(root):
        if fs.isfile(root) or fs.ls(root, detail=False):
            if not overwrite:
                raise ExportLocationError(
                    f"export location {url!r} is not empty; choose another path or pass "
                    "overwrite=True to replace it"
                )
            fs.rm(root, recursive=True)
    if is_persisted_source(source):
        md = source.metadata
        original = {k: md.get(k) for k in (
            "original_tok", "original_name", "original_description",
            "original_metadata", "original_source")}
    else:
        original = {
            "original_tok": tokenize(source),
            "original_name": made_as(source)[0],
            "original_description": made_as(source)[1],
            "original_metadata": scrub(plain(dict(made_metadata(source) or {}))),
            "original_source": source_state(source),
        }
    try:
        driver, args, _ = written(persister.write(source, url, storage_options=storage_options, **kwargs),
                                  getattr(source, "container", None))
    except BaseException:
        if fs.exists(root):
            fs.rm(root, recursive=True)
        raise
    metadata = dict(original)
    metadata.update(
        container=getattr(source, "container", None),
        exported_at=time.time(),
        export_kwargs=plain(dict(kwargs)),
    )
    name = original.get("original_name") or "exported"
    args = plain(args)
    if storage_options:
        args["storage_options"] = plain(storage_options)
    entry = scrub(
        {
            "driver": driver,
            "description": f"exported copy of {name}",
            "args": args,
            "metadata": plain(metadata),
        }
    )
    return yaml.safe_dump({"sources": {name: entry}}, sort_keys=False, default_flow_style=False)
