"""Fuzzing a hostile store: whatever anyone who can write files in the persist
store does to it (``cat.yaml``, a head, a ``record.yaml``, the journal, links,
folders or hard links where files should be), a catalog access of the original
entry

* finishes in under two seconds (``.read()`` included; imports are warmed up),
* runs no code (no canary file appears, no canary module is imported),
* reads nothing outside the store (the outside secret never shows up), and
  creates, changes or deletes nothing outside the store,
* serves either the persisted copy or the original, both with exactly the
  original's data,
* never raises (not even ``SystemExit``);

and a fresh ``persist()`` afterwards either works or raises a
:class:`~intake_persistplus.PersistError` that one of the mutations explains
(``IndexFormatError``/``CorruptIndexError`` for a format number,
``PersistPathError`` for a link or folder), and writes nothing outside the store.

Each example copies a template store (one real ``persist()`` per module),
applies a generated list of mutations to the copy, then checks the above in
this process. A mutation is a plain tuple, so a failing example printed by
hypothesis replays with ``assert_example(world, ops)``; each kind of attack
also runs once, explicitly (``test_an_attack_on_the_store``).

What the fuzzing found is at the end of the file, as strict xfail tests; the
fuzz strategies leave out the few mutations that hang or slow the store (see
``NOT_IN_VIEW``, ``NOT_IN_RECORD``); the gaps described at :data:`STRICT` are
reported as failures (``PERSISTFUZZ_STRICT=0`` tolerates them).

``-m slow`` also runs a bigger search and every template on every file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import intake
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from intake_persistplus import (
    CorruptIndexError,
    IndexFormatError,
    PersistError,
    PersistPathError,
    PersistStore,
)

from .conftest import make_frame, write_catalog

if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):  # its caches, not in the project folder
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "intake-persistplus-hypothesis")

#: the bound on a catalog access plus ``read()`` of a hostile store
ACCESS_SECONDS = 2.0

FUZZ_SETTINGS = dict(
    deadline=timedelta(seconds=15),  # generous; the 2 s bound is asserted by the test itself
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


# -- the world: a template store, an outside secret, canaries --------------------------------
@dataclass
class World:
    root: Path  # the module's folder: everything outside the store under test lives here
    catalog: Path
    template: Path  # the store as persist() left it
    token: str
    version: str
    entry: dict  # the entry of the head, decoded
    generation: int
    header: str  # the view's text before "sources:"
    expected: pd.DataFrame  # the original's read()
    outside: Path
    secret: str  # a marker in every outside file that must never be served
    secret_csv: Path
    secret_txt: Path
    secret_parquet: Path  # a folder of parquet files holding the secret
    evil_catalog: Path  # an outside catalog whose plugins import the canary module
    decoy: Path  # a copy of the store whose data is the secret's
    canary_module: str
    canaries: list[Path]
    counter: list[int] = field(default_factory=lambda: [0])

    def placeholders(self, store: Path) -> dict[str, str]:
        tok_dir = f"{store}/{self.token}"
        return {
            "$SECRET_CSV": str(self.secret_csv),
            "$SECRET_TXT": str(self.secret_txt),
            "$SECRET_PARQUET": str(self.secret_parquet),
            "$EVIL_CATALOG": str(self.evil_catalog),
            "$INSIDE_EVIL_CATALOG": "{{ CATALOG_DIR }}/" + f"{self.token}/evil.yaml",
            "$DECOY_DATA": f"{self.decoy}/{self.token}/{self.version}/data",
            "$DOTDOT_DATA": "{{ CATALOG_DIR }}/" + f"{self.token}/{self.version}/../../../outside/secret_data",
            "$DOTDOT_CSV": f"{tok_dir}/../../../outside/secret.csv",
            "$CANARY_OS": str(self.canaries[0]),
            "$CANARY_MODULE": self.canary_module,
            "$TOKEN": self.token,
            "$VERSION": self.version,
            "$TOKEN_DIR": tok_dir,
            "$DATA": "{{ CATALOG_DIR }}/" + f"{self.token}/{self.version}/data",
            "$OUTSIDE": str(self.outside),
            **{f"$ENTRY_BOMB_{d}": entry_bomb(json.dumps(self.entry), d) for d in (3, 4, 9)},
        }


def _write_parquet(frame: pd.DataFrame, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "part.00000.parquet", index=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    """One template store for the module: ``csvsource`` (the catalog of conftest's
    ``csv_catalog``) persisted once; every example works on a copy of it."""
    tmp_path = tmp_path_factory.mktemp("fuzz-index")
    data = tmp_path / "data"
    data.mkdir()
    make_frame().to_csv(data / "table.csv", index=False)
    csv_catalog = write_catalog(data, {"csvsource": {
        "description": "a CSV table", "driver": "csv",
        "args": {"urlpath": "{{ CATALOG_DIR }}/table.csv"}, "metadata": {"origin": "tests"}}})
    template = tmp_path / "template"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setitem(intake.conf, "persist_path", str(template))
        monkeypatch.delitem(intake.conf, "persist_mode", raising=False)
        cat = intake.open_catalog(str(csv_catalog))
        original = cat.csvsource(persist_mode="never")
        expected = original.read()
        original.persist()
        # warm up every import a catalog access may need (the 2 s bound excludes them)
        served = intake.open_catalog(str(csv_catalog)).csvsource
        assert served.is_persisted
        pd.testing.assert_frame_equal(served.read(), expected)
    with pytest.MonkeyPatch.context() as monkeypatch:
        w = _make_world(tmp_path, csv_catalog, template, expected, monkeypatch)
        for ops in WARM_UP:  # the first fold, refresh... of the process (imports, caches)
            run_example(w, ops)
        yield w


#: examples run once before the tests, so that no first-import cost counts
WARM_UP = [[("raw", "view", "line", "tag-apply")], [("bytes", "head", [("flip", 5, 1)])],
           [("entry", "view", "line", "refresh-hostile-writer-args")], [("format", "header", "3")]]


def _make_world(tmp_path, csv_catalog, template, expected, monkeypatch) -> World:
    (head,) = (template / ".heads").iterdir()
    token = head.name
    first, line = head.read_text().rstrip("\n").split("\n")
    entry = json.loads(line)
    version = entry["metadata"]["persist_version"]
    view = (template / "cat.yaml").read_text()
    header = view.split("sources:")[0]

    secret = f"TOPSECRET-{uuid.uuid4().hex}"
    outside = tmp_path / "outside"
    outside.mkdir()
    secret_frame = make_frame(7, seed=3).assign(label=secret)
    secret_csv = outside / "secret.csv"
    secret_frame.to_csv(secret_csv, index=False)
    secret_txt = outside / "secret.txt"
    secret_txt.write_text(f"{secret}\n")
    secret_parquet = outside / "secret_data"
    _write_parquet(secret_frame, secret_parquet)

    # a canary module: importing it leaves a file and raises SystemExit
    mods = tmp_path / "mods"
    mods.mkdir()
    canary_module = f"persistfuzz_canary_{uuid.uuid4().hex[:10]}"
    canaries = [tmp_path / "CANARY-os-system", tmp_path / "CANARY-imported"]
    (mods / f"{canary_module}.py").write_text(
        f"import pathlib\npathlib.Path({str(canaries[1])!r}).write_text('imported')\n"
        "raise SystemExit(3)\n"
    )
    monkeypatch.syspath_prepend(str(mods))
    evil_catalog = outside / "evil.yaml"
    evil_catalog.write_text(
        yaml.safe_dump({
            "plugins": {"source": [{"module": canary_module}]},
            "sources": {"secret": {"driver": "csv", "args": {"urlpath": str(secret_csv)}}},
        })
    )

    # a decoy store outside: the same layout, the secret's data
    decoy = outside / "decoy"
    shutil.copytree(template, decoy, symlinks=True)
    data = decoy / token / version / "data"
    shutil.rmtree(data)
    _write_parquet(secret_frame, data)
    (decoy / token / "evil.yaml").write_text(evil_catalog.read_text())

    return World(
        root=tmp_path, catalog=csv_catalog, template=template, token=token, version=version,
        entry=entry, generation=int(first.split(" ")[2]), header=header, expected=expected,
        outside=outside, secret=secret, secret_csv=secret_csv, secret_txt=secret_txt,
        secret_parquet=secret_parquet, evil_catalog=evil_catalog, decoy=decoy,
        canary_module=canary_module, canaries=canaries,
    )


# -- a snapshot of everything outside the store ----------------------------------------
def snapshot(root: Path, exclude: Path) -> dict:
    """Every file, folder and link under ``root`` but ``exclude``: kind, size, times, content."""
    out = {}
    skip = str(exclude)
    for dirpath, dirnames, filenames in os.walk(root):  # links are listed, not followed
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) != skip]
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st_ = os.lstat(path)
            if stat.S_ISLNK(st_.st_mode):
                out[path] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st_.st_mode):
                out[path] = ("dir", st_.st_mtime_ns)
            else:
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                out[path] = ("file", st_.st_size, st_.st_mtime_ns, digest)
    return out


def diff(before: dict, after: dict) -> list[str]:
    changes = [f"created {p}" for p in after.keys() - before.keys()]
    changes += [f"deleted {p}" for p in before.keys() - after.keys()]
    changes += [f"changed {p}" for p in before.keys() & after.keys() if before[p] != after[p]]
    return sorted(changes)


# -- mutations ----------------------------------------------------------------------------
def safe(store: Path, rel: str) -> Path | None:
    """``store/rel``, or None when a link stands on the way (a mutation never
    writes through a link: the decoy outside is shared by every example)."""
    current = store
    for part in rel.split("/"):
        current = current / part
        if current.is_symlink():
            return None
    return current


def relpath(w: World, what: str) -> str:
    return {
        "view": "cat.yaml",
        "stamp": ".cat.yaml.stamp",
        "viewlock": ".cat.yaml.lock",
        "head": f".heads/{w.token}",
        "heads": ".heads",
        "journal": ".journal",
        "locks": ".locks",
        "tokenlock": f".locks/{w.token}",
        "names": ".names",
        "token": w.token,
        "version": f"{w.token}/{w.version}",
        "data": f"{w.token}/{w.version}/data",
        "record": f"{w.token}/{w.version}/record.yaml",
    }[what]


def fill(value, ph: dict):
    """``value`` with the placeholders of :meth:`World.placeholders` filled in."""
    if isinstance(value, str):
        for k in sorted(ph, key=len, reverse=True):
            value = value.replace(k, ph[k])
        return value
    if isinstance(value, list):
        return [fill(v, ph) for v in value]
    if isinstance(value, dict):
        return {fill(k, ph) if isinstance(k, str) else k: fill(v, ph) for k, v in value.items()}
    return value


#: hostile entries, whole (placeholders filled in when applied)
def _reader(driver: str, key: str, where) -> dict:
    return {"driver": driver, "args": {key: where}, "metadata": "$METADATA"}


ENTRY_TEMPLATES: dict[str, object] = {
    **{
        f"catalog-{d}-{w}": {"driver": d, "args": {"path": p}, "metadata": "$METADATA"}
        for d in ("yaml_file_cat", "yaml_files_cat", "intake.catalog.local.YAMLFileCatalog")
        for w, p in (("outside", "$EVIL_CATALOG"), ("inside", "$INSIDE_EVIL_CATALOG"),
                     ("list", ["$EVIL_CATALOG"]))
    },
    **{
        f"{d}-{k}-{name}": _reader(d, k, where)
        for d in ("textfiles", "csv", "persisted_parquet", "parquet")
        for k in ("urlpath", "path")
        for name, where in (
            ("str", "$SECRET_CSV" if d != "persisted_parquet" else "$SECRET_PARQUET"),
            ("list", ["$SECRET_CSV"]),
            ("dict", {"a": "$SECRET_CSV"}),
            ("file-url", "file://$SECRET_CSV"),
            ("chained", "simplecache::$SECRET_CSV"),
            ("dotdot", "$DOTDOT_CSV"),
            ("relative", "../outside/secret.csv"),
        )
    },
    "parquet-decoy": _reader("persisted_parquet", "urlpath", "$DECOY_DATA"),
    "parquet-dotdot-data": _reader("persisted_parquet", "urlpath", "$DOTDOT_DATA"),
    "parquet-chained-data": _reader("persisted_parquet", "urlpath", "simplecache::$DATA"),
    "parquet-location-in-engine": {"driver": "persisted_parquet",
                                   "args": {"urlpath": "$DATA", "engine": "$SECRET_PARQUET"},
                                   "metadata": "$METADATA"},
    "parquet-storage-options": {"driver": "persisted_parquet",
                                "args": {"urlpath": "$DATA", "storage_options": {
                                    "fo": "$SECRET_TXT", "target_protocol": "file",
                                    "protocol": "reference", "auto_mkdir": True}},
                                "metadata": "$METADATA"},
    "version-dotdot": {"driver": "persisted_parquet", "args": {"urlpath": "$DOTDOT_DATA"},
                       "metadata": {"$MERGE": True, "persist_version": "../../../outside/secret_data"}},
    "version-slash": {"driver": "persisted_parquet", "args": {"urlpath": "$DATA"},
                      "metadata": {"$MERGE": True, "persist_version": "/$OUTSIDE"}},
    "refresh-canary-original": {"driver": "persisted_parquet", "args": {"urlpath": "$DATA"},
                                "metadata": {"$MERGE": True, "ttl": 1, "timestamp": 1000.0,
                                             "original_source": {"cls": "$CANARY_MODULE.Evil",
                                                                 "args": [], "kwargs": {}}}},
    "refresh-hostile-writer-args": {"driver": "persisted_parquet", "args": {"urlpath": "$DATA"},
                                    "metadata": {"$MERGE": True, "ttl": 1, "timestamp": 1000.0,
                                                 "persist_kwargs": {"where": "$OUTSIDE/x.parquet",
                                                                    "filesystem": "$OUTSIDE",
                                                                    "urlpath": "$OUTSIDE/y",
                                                                    "storage_options": {"auto_mkdir": True}}}},
    "refresh-other-container": {"driver": "persisted_parquet", "args": {"urlpath": "$DATA"},
                                "metadata": {"$MERGE": True, "ttl": 1, "timestamp": 1000.0,
                                             "container": "catalog"}},
    "wrong-original-tok": {"driver": "persisted_parquet", "args": {"urlpath": "$DATA"},
                           "metadata": {"$MERGE": True, "original_tok": "f" * 32}},
    "no-metadata": {"driver": "persisted_parquet", "args": {"urlpath": "$DATA"}},
    "not-a-mapping": ["$SECRET_CSV"],
    "a-string": "$SECRET_CSV",
    "null": None,
}


def make_entry(w: World, template, ph: dict):
    """A template filled in: ``$METADATA`` is the real entry's metadata, a
    ``$MERGE`` metadata is merged into it."""
    value = fill(template, ph)
    if isinstance(value, dict):
        md = value.get("metadata")
        if md == "$METADATA":
            value["metadata"] = dict(w.entry["metadata"])
        elif isinstance(md, dict) and md.pop("$MERGE", False):
            value["metadata"] = {**w.entry["metadata"], **md}
    return value


def _bomb(depth: int) -> str:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, depth + 1)
    ]
    return "{driver: persisted_parquet, args: {urlpath: x, " + ", ".join(levels) + "}, metadata: {}}"


def _deep(depth: int, kind: str) -> str:
    if kind == "list":
        inner = "[" * depth + "]" * depth
    else:
        inner = '{"a": ' * depth + "1" + "}" * depth
    return '{"driver": "persisted_parquet", "args": {"urlpath": ' + inner + '}, "metadata": {}}'


#: hostile entries as one line of YAML text (what a JSON or YAML dump cannot say)
RAW_TEMPLATES: dict[str, str] = {
    "tag-apply": "!!python/object/apply:os.system ['touch $CANARY_OS']",
    "tag-new": "!!python/object/new:subprocess.Popen [['touch', '$CANARY_OS']]",
    "tag-name": "{driver: !!python/name:os.system , args: {}, metadata: {}}",
    "tag-module": "!!python/module:$CANARY_MODULE",
    "tag-in-args": "{driver: persisted_parquet, args: !!python/object/apply:os.system "
                   "['touch $CANARY_OS'], metadata: {original_tok: $TOKEN, timestamp: 0}}",
    "tag-in-key": "{? !!python/object/apply:os.system ['touch $CANARY_OS'] : 1}",
    "bomb-4": _bomb(4),
    "bomb-9": _bomb(9),
    "deep-list-1000": _deep(1000, "list"),
    "deep-list-100000": _deep(100_000, "list"),
    "deep-map-100000": _deep(100_000, "map"),
    "yaml-flow-dotdot": "{driver: persisted_parquet, args: {urlpath: '$DOTDOT_DATA'}, "
                        "metadata: {original_tok: $TOKEN, timestamp: 0}}",
    "merge-key": "{<<: {driver: csv, args: {urlpath: '$SECRET_CSV'}}, metadata: {timestamp: 0}}",
    "binary": "!!binary aGVsbG8=",
    "set": "!!set {a, b}",
    "timestamp": "{driver: persisted_parquet, args: {urlpath: '$DATA'}, "
                 "metadata: {original_tok: $TOKEN, timestamp: 2001-12-14t21:59:43.10-05:00}}",
    # the real entry, with 9**(depth+1) values through aliases in its original_metadata
    "entry-bomb-3": "$ENTRY_BOMB_3",
    "entry-bomb-4": "$ENTRY_BOMB_4",
    "entry-bomb-9": "$ENTRY_BOMB_9",
}
#: raw templates never written to a record.yaml by the fuzz tests: a version's
#: record.yaml is parsed without a bound on aliases (see test_an_alias_bomb_in_a_record_yaml...)
NOT_IN_RECORD = {"entry-bomb-4", "entry-bomb-9", "deep-list-100000", "deep-map-100000"}
#: raw templates never put in the view by the fuzz tests: a line nested deeper than
#: Python's recursion limit stops the store (see test_a_view_line_nested_too_deeply...)
NOT_IN_VIEW = {"deep-list-1000", "deep-list-100000", "deep-map-100000"}


def entry_bomb(line: str, depth: int) -> str:
    levels = ['"a0": &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]'] + [
        f'"a{i}": &a{i} [{", ".join([f"*a{i - 1}"] * 9)}]' for i in range(1, depth + 1)
    ]
    return line.replace('"original_metadata": {', '"original_metadata": {' + ", ".join(levels) + ", ", 1)


#: keys that are not tokens (or are tokens only in some reading of them)
ODD_KEYS = [
    "csvsource", "'../../outside'", "ABCDEF0123456789ABCDEF0123456789", "1234567890123456",
    "'1234567890123456'", "0x1234567890abcdef", "null", "~", "true", "? [a, b]", "'$TOKEN '",
    "!!str $TOKEN", '"$TOKEN\\0"', "$TOKEN/../$TOKEN", "'.heads'", "''",
]

#: values of the format number in the view's header, and where to put it
FORMATS = ["3", "'3'", "3.0", "0x3", "!!int 3", "&f 3", "99999999999999999999", "1e3",
           "-1", "abc", "null", "[3]", "{a: 3}", "2", "'2'"]

SYMLINK_PLACES = ["token", "version", "data", "record", "head", "heads", "view", "stamp",
                  "viewlock", "tokenlock", "locks", "journal", "names"]
SYMLINK_TARGETS = ["decoy", "secret", "dangling"]
REMOVABLE = ["view", "stamp", "head", "record", "data", "version", "token", "journal", "names",
             "heads", "viewlock", "tokenlock"]


def replace_file(p: Path, data: bytes) -> None:
    """Write ``p`` as a new file: a folder, link, hard link or pipe there goes first
    (never written through)."""
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    elif os.path.lexists(p):
        p.unlink()
    p.write_bytes(data)


@dataclass
class Example:
    w: World
    store: Path
    ph: dict

    def read(self, what: str) -> bytes | None:
        p = safe(self.store, relpath(self.w, what))
        if p is None or not p.is_file():
            return None
        return p.read_bytes()

    def write(self, what: str, data: bytes) -> None:
        p = safe(self.store, relpath(self.w, what))
        if p is not None and p.parent.is_dir():
            replace_file(p, data)

    def remove(self, what: str) -> None:
        p = safe(self.store, relpath(self.w, what))
        if p is None or not os.path.lexists(p):
            return
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()

    # the text of a head / a view holding ``entry`` (an object or raw one-line YAML)
    def head_bytes(self, line: str, sign: bool = True, fmt: str = "2") -> bytes:
        body = (line + "\n").encode("utf-8", "surrogatepass")
        digest = hashlib.sha256(body).hexdigest() if sign else "0" * 64
        return f"#persistplus-head {fmt} {self.w.generation + 1} {digest}\n".encode() + body

    def view_bytes(self, sources: list[tuple[str, str]], header: str | None = None) -> bytes:
        header = self.w.header if header is None else header
        text = header + "sources:\n" + "".join(f"  {k}: {v}\n" for k, v in sources)
        return text.encode("utf-8", "surrogatepass")

    def line_of(self, entry) -> str:
        try:
            return json.dumps(entry, ensure_ascii=False)
        except (TypeError, ValueError):
            return yaml.safe_dump(entry, default_flow_style=True, width=1 << 30).strip()

    def real_line(self) -> str:
        return json.dumps(self.w.entry)


def apply(ex: Example, op: tuple) -> None:
    """Apply one mutation (a tuple, see the strategies below) to the example's store."""
    w, kind = ex.w, op[0]
    if kind == "bytes":  # ("bytes", target, [(edit, position, argument), ...])
        _, target, edits = op
        data = ex.read(target)
        if data is None:
            return
        for edit, pos, arg in edits:
            i = pos % (len(data) + 1)
            if edit == "flip" and data:
                i = pos % len(data)
                data = data[:i] + bytes([data[i] ^ (arg or 1)]) + data[i + 1:]
            elif edit == "insert":
                data = data[:i] + arg + data[i:]
            elif edit == "delete":
                data = data[:i] + data[i + arg:]
            elif edit == "truncate":
                data = data[:i]
        ex.write(target, data)
    elif kind == "entry":  # ("entry", target, style, template name)
        _, target, style, name = op
        entry = make_entry(w, ENTRY_TEMPLATES[name], ex.ph)
        if isinstance(entry, dict) and "evil.yaml" in json.dumps(entry):
            p = safe(ex.store, w.token)
            if p is not None and p.is_dir():
                replace_file(p / "evil.yaml", w.evil_catalog.read_bytes())
        _put_entry(ex, target, style, ex.line_of(entry), entry)
    elif kind == "raw":  # ("raw", target, style, template name)
        _, target, style, name = op
        _put_entry(ex, target, style, fill(RAW_TEMPLATES[name], ex.ph), None)
    elif kind == "field":  # ("field", target, style, path, value or "$DELETE")
        _, target, style, path, value = op
        entry = json.loads(ex.real_line())
        parent, key = entry, path
        if "." in path:
            first, key = path.split(".", 1)
            if not isinstance(parent.get(first), dict):
                parent[first] = {}
            parent = parent[first]
        if value == "$DELETE":
            parent.pop(key, None)
        else:
            parent[key] = fill(value, ex.ph)
        _put_entry(ex, target, style, ex.line_of(entry), entry)
    elif kind == "huge":  # ("huge", target, size)
        _, target, size = op
        entry = json.loads(ex.real_line())
        entry["description"] = "x" * size
        entry["metadata"]["original_metadata"] = {"blob": "y" * size}
        _put_entry(ex, target, "line", json.dumps(entry), entry)
    elif kind == "keys":  # ("keys", odd key, template name or None for the real entry)
        _, key, name = op
        value = ex.real_line() if name is None else ex.line_of(make_entry(w, ENTRY_TEMPLATES[name], ex.ph))
        ex.write("view", ex.view_bytes([(w.token, ex.real_line()), (fill(key, ex.ph), value)]))
    elif kind == "dup":  # ("dup", hostile first?, template name)
        _, first, name = op
        value = ex.line_of(make_entry(w, ENTRY_TEMPLATES[name], ex.ph))
        pairs = [(w.token, value), (w.token, ex.real_line())]
        ex.write("view", ex.view_bytes(pairs if first else pairs[::-1]))
    elif kind == "format":  # ("format", where, value)
        _, where, value = op
        if where == "head":
            ex.write("head", ex.head_bytes(ex.real_line(), fmt=value))
            return
        if where == "flow":
            header = "metadata: {version: 1, persistplus_index: " + value + "}\n"
        elif where == "extra":
            header = w.header + "  persistplus_index: " + value + "\n"
        else:
            header = w.header.replace("persistplus_index: 2", "persistplus_index: " + value)
        ex.write("view", ex.view_bytes([(w.token, ex.real_line())], header))
    elif kind == "symlink":  # ("symlink", place, target kind)
        _, place, to = op
        rel = relpath(w, place)
        p = safe(ex.store, rel)
        if p is None or not p.parent.is_dir() or safe(ex.store, str(Path(rel).parent)) is None:
            return
        if to == "decoy":
            dest = w.decoy / rel
        elif to == "secret":
            dest = w.secret_parquet if place in ("data", "version", "token", "heads", "journal",
                                                 "locks", "names") else w.secret_csv
        else:
            dest = w.outside / f"nowhere-{place}"
        if os.path.lexists(p):
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        os.symlink(dest, p)
    elif kind == "remove":
        ex.remove(op[1])
    elif kind == "hardlink":  # ("hardlink", place): a hard link to a file outside the store
        _, place = op
        p = safe(ex.store, relpath(w, place))
        if p is None or not p.parent.is_dir() or p.is_dir():
            return
        victim = w.outside / f"victim-{place}-{w.counter[0]}"
        victim.write_text("precious data, outside the store\n")
        p.unlink(missing_ok=True)
        os.link(victim, p)
    elif kind == "fifo":  # ("fifo", place): a named pipe (opening it to read blocks)
        _, place = op
        p = safe(ex.store, relpath(w, place))
        if p is None or not p.parent.is_dir():
            return
        ex.remove(place)
        os.mkfifo(p)
    elif kind == "dir":  # ("dir", place): a folder (holding a file) where a file should be
        _, place = op
        p = safe(ex.store, relpath(w, place))
        if p is None or not p.parent.is_dir():
            return
        ex.remove(place)
        p.mkdir()
        (p / "x").write_text("x")
    elif kind == "journal":  # ("journal", marker name): a file in .journal
        _, name = op
        p = safe(ex.store, ".journal")
        if p is not None and p.is_dir():
            replace_file(p / fill(name, ex.ph), b"")
    elif kind == "extra-head":  # ("extra-head", file name, raw or entry template, signed)
        _, name, template, sign = op
        p = safe(ex.store, ".heads")
        if p is None or not p.is_dir():
            return
        if template in RAW_TEMPLATES:
            line = fill(RAW_TEMPLATES[template], ex.ph)
        else:
            line = ex.line_of(make_entry(w, ENTRY_TEMPLATES[template], ex.ph))
        replace_file(p / fill(name, ex.ph), ex.head_bytes(line, sign=sign))
    elif kind == "many":  # ("many", "odd" or "tokens", n): n more entries in the view
        _, which, n = op
        pairs = [(w.token, ex.real_line())]
        for i in range(n):
            if which == "odd":
                pairs.append((f"not-a-token-{i}", ex.real_line()))
            else:
                tok = f"c{i:031x}"
                entry = json.loads(ex.real_line())
                entry["metadata"]["original_tok"] = tok
                pairs.append((tok, json.dumps(entry)))
        ex.write("view", ex.view_bytes(pairs))
    elif kind == "restamp":  # the stamp says the view is as the store wrote it (a newer version, say)
        view, stamp = safe(ex.store, "cat.yaml"), safe(ex.store, ".cat.yaml.stamp")
        if view is None or stamp is None or not view.is_file() or stamp.is_dir():
            return
        st_ = os.stat(view)
        data = view.read_bytes()
        replace_file(stamp, json.dumps({
            "sig": [st_.st_ino, st_.st_size, st_.st_mtime_ns, st_.st_ctime_ns],
            "sha256": hashlib.sha256(data).hexdigest(), "entries": 1}).encode())
    else:  # pragma: no cover
        raise ValueError(op)


def _put_entry(ex: Example, target: str, style: str, line: str, entry) -> None:
    w = ex.w
    if target == "head":
        ex.write("head", ex.head_bytes(line, sign=(style != "unsigned")))
    elif target == "record":
        text = (f"{w.token}: {line}\n" if entry is None else
                yaml.safe_dump({w.token: entry}, allow_unicode=True, width=1 << 30))
        ex.write("record", text.encode("utf-8", "surrogatepass"))
    elif style == "block" and entry is not None:
        doc = yaml.safe_load(w.header) or {}
        doc["sources"] = {w.token: entry}
        ex.write("view", yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode(
            "utf-8", "surrogatepass"))
    else:  # one line, as the store writes it
        ex.write("view", ex.view_bytes([(w.token, line)]))


# -- one example: mutate a copy of the template, then check a catalog access ------------------
#: Gaps the fuzzing found, now closed (see the tests at the end): a persisted copy
#: handed out although built from an entry whose driver arguments are not the ones
#: its version was written with (``engine: x``, ``urlpath: null``, a path to
#: ``record.yaml``...), or whose data folder is gone while its version folder is
#: still there. :func:`known_gap` still names them, so that a regression says
#: which; PERSISTFUZZ_STRICT=0 tolerates them (counted as hypothesis events) while
#: one is being worked on. The secret, the canaries, the time bound and the files
#: outside the store are never tolerated.
STRICT = os.environ.get("PERSISTFUZZ_STRICT", "1") not in ("", "0")


@dataclass
class Outcome:
    escaped: BaseException | None = None
    elapsed: float = 0.0
    persisted: bool | None = None
    frame: pd.DataFrame | None = None
    served: object = None  # the source handed out
    warnings: list[str] = field(default_factory=list)


def access(w: World) -> Outcome:
    out = Outcome()
    seen: list = []
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            source = intake.open_catalog(str(w.catalog)).csvsource
            out.served, out.persisted = source, bool(source.is_persisted)
            out.frame = source.read()
            out.persisted = bool(source.is_persisted)  # a deferred refresh may have run
    except BaseException as e:  # noqa: BLE001 - SystemExit and all: nothing may escape
        out.escaped = e
    out.elapsed = time.perf_counter() - t0
    out.warnings = [str(m.message) for m in seen]
    return out


def known_gap(w: World, store: Path, out: Outcome) -> str | None:
    """Which known gap explains a failed or different ``read()`` (None: none does)."""
    from intake_persistplus.containers.parquet import PersistedParquetSource

    source = out.served
    if not out.persisted or source is None:
        return None
    kwargs = dict(getattr(source, "_captured_init_kwargs", None) or {})
    kwargs.pop("metadata", None)
    kwargs.pop("storage_options", None)
    urlpath = kwargs.get("urlpath")
    written = (
        type(source) is PersistedParquetSource
        and set(kwargs) == {"urlpath", "engine"} and kwargs["engine"] == "pyarrow"
        and isinstance(urlpath, str)
        and re.fullmatch(re.escape(f"{store}/{w.token}/") + r"[^/]+/data", urlpath) is not None
    )
    if not written:
        return "a copy built from hand-edited driver arguments"
    if not os.path.isdir(urlpath):
        return "a copy whose data folder is gone"
    return None


@dataclass
class Result:
    problems: list[str]
    gaps: list[tuple[str, str]]  # (known gap, what went wrong)
    persist_error: BaseException | None
    outcomes: list[Outcome]


def check_access(w: World, store: Path, out: Outcome, when: str, gaps: list) -> list[str]:
    problems = []
    frame = out.frame
    if isinstance(frame, pd.DataFrame) and w.secret in frame.to_csv():
        problems.append(f"{when}: the outside secret was served")
    leaked = [m for m in out.warnings if w.secret in m]
    if leaked:
        problems.append(f"{when}: a warning shows the outside secret: {leaked[0][:300]}")
    if out.elapsed > ACCESS_SECONDS:
        problems.append(f"{when}: the access and read() took {out.elapsed:.2f} s")
    wrong = None
    if out.escaped is not None:
        wrong = (f"{when}: the catalog access raised {type(out.escaped).__name__}: "
                 f"{str(out.escaped)[:500]}")
    elif not isinstance(frame, pd.DataFrame) or not frame.equals(w.expected):
        wrong = (f"{when}: served data differs from the original's "
                 f"(persisted={out.persisted}): {str(frame)[:300]}")
    if wrong is not None:
        gap = None if isinstance(out.escaped, (SystemExit, KeyboardInterrupt)) else known_gap(w, store, out)
        if gap is None or STRICT:
            problems.append(wrong + (f" [known gap: {gap}]" if gap else ""))
        else:
            gaps.append((gap, wrong))
    return problems


def check_canaries(w: World) -> list[str]:
    problems = [f"code ran: {c} exists" for c in w.canaries if c.exists()]
    if w.canary_module in sys.modules:
        problems.append(f"code ran: {w.canary_module} was imported")
    return problems


def unblock_fifos(store: Path, done: threading.Event) -> None:
    """A watchdog: after :data:`ACCESS_SECONDS`, open every named pipe in the store
    for writing and close it again, so that a reader blocked on one sees its end
    (the test then reports the time instead of hanging)."""
    if done.wait(ACCESS_SECONDS + 0.2):
        return
    while not done.wait(0.05):
        for dirpath, _, filenames in os.walk(store):
            for name in filenames:
                path = os.path.join(dirpath, name)
                with contextlib.suppress(OSError):
                    if stat.S_ISFIFO(os.lstat(path).st_mode):
                        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def explained(error: BaseException, ops: list[tuple]) -> bool:
    """Whether a mutation explains why ``persist()`` refused: a format number in
    the view or a head (IndexFormatError, or CorruptIndexError for one it cannot
    read), or a link, folder, pipe or hard-linked lock where the store wants a
    file of its own (PersistPathError).
    Anything else must not stop a persist: a damaged index is rebuilt."""
    kinds = {op[0] for op in ops}
    view_edits = any(op[0] == "format" and op[1] != "head" for op in ops) or any(
        op[0] == "bytes" and op[1] in ("view", "stamp") for op in ops)  # both carry the format
    if isinstance(error, IndexFormatError) and any(
            op[0] == "format" or (op[0] == "bytes" and op[1] == "head") for op in ops):
        # a head in a newer format is never written over either; random bytes in a
        # head can spell one too (a flipped bit turns its "2" into a "3")
        return True
    if isinstance(error, CorruptIndexError):  # IndexFormatError too
        return view_edits
    if isinstance(error, PersistPathError):
        return bool(kinds & {"symlink", "dir", "fifo", "hardlink"})
    return False


def run_example(w: World, ops: list[tuple]) -> Result:
    """Mutate a fresh copy of the template store with ``ops``, access the entry,
    persist it again, access it again; return what went wrong."""
    w.counter[0] += 1
    folder = w.root / "examples" / str(w.counter[0])
    store = folder / "persisted"
    folder.mkdir(parents=True)
    shutil.copytree(w.template, store, symlinks=True)
    done = threading.Event()
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setitem(intake.conf, "persist_path", str(store))
            return _run_example(w, ops, store, done)
    finally:
        done.set()
        for c in w.canaries:
            c.unlink(missing_ok=True)
        sys.modules.pop(w.canary_module, None)
        shutil.rmtree(folder, ignore_errors=True)


def _run_example(w: World, ops: list[tuple], store: Path, done: threading.Event) -> Result:
    PersistStore(str(store)).compact()  # the copy's view is current again (its stamp)
    ex = Example(w, store, w.placeholders(store))
    for op in ops:
        apply(ex, op)
    before = snapshot(w.root, store)
    threading.Thread(target=unblock_fifos, args=(store, done), daemon=True).start()
    gaps: list[tuple[str, str]] = []
    first = access(w)
    problems = check_access(w, store, first, "access", gaps)
    problems += check_canaries(w)

    # a fresh persist works or raises a PersistError
    persist_error = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            intake.open_catalog(str(w.catalog)).csvsource(persist_mode="never").persist()
    except BaseException as e:  # noqa: BLE001
        persist_error = e
    if persist_error is not None and not isinstance(persist_error, PersistError):
        problems.append(f"persist() raised {type(persist_error).__name__} (not a PersistError): "
                        f"{str(persist_error)[:500]}")
    elif persist_error is not None and not explained(persist_error, ops):
        problems.append(f"persist() raised {type(persist_error).__name__}, which none of the "
                        f"mutations explains: {str(persist_error)[:500]}")
    second = access(w)
    problems += check_access(w, store, second, "access after persist()", gaps)
    if persist_error is None and not second.persisted and second.escaped is None:
        problems.append("persist() worked, yet the next access serves the original")
    problems += check_canaries(w)
    problems += [f"outside the store: {c}" for c in diff(before, snapshot(w.root, store))]
    return Result(problems, gaps, persist_error, [first, second])


def assert_example(w: World, ops: list[tuple], strict: bool = False) -> Result:
    result = run_example(w, ops)
    problems = result.problems + ([f"{what} [known gap: {gap}]" for gap, what in result.gaps]
                                  if strict else [])
    assert not problems, f"mutations {ops!r}:\n  " + "\n  ".join(problems)
    return result


def fuzz(w: World, ops: list[tuple]) -> None:
    """One hypothesis example: the checks, and events for ``--hypothesis-show-statistics``."""
    result = assert_example(w, ops)
    first = result.outcomes[0]
    event("served the persisted copy" if first.persisted else "served the original")
    for gap, _ in result.gaps:
        event(f"tolerated known gap: {gap}")
    if result.persist_error is not None:
        event(f"persist() raised {type(result.persist_error).__name__}")


# -- strategies ---------------------------------------------------------------------------
TARGETS = st.sampled_from(["view", "head"])
byte_edit = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 5000), st.integers(1, 255)),
    st.tuples(st.just("insert"), st.integers(0, 5000),
              st.binary(min_size=1, max_size=8) | st.sampled_from(
                  [b"\n", b"\x00", b"\xff", b": ", b"&a ", b"*a", b"!!python/name:os.system ",
                   b"'", b'"', b"{", b"[", b"\n  x: 1\n", b"\t", b"\xef\xbb\xbf"])),
    st.tuples(st.just("delete"), st.integers(0, 5000), st.integers(1, 64)),
    st.tuples(st.just("truncate"), st.integers(0, 5000), st.none()),
)
bytes_op = st.tuples(
    st.just("bytes"), st.sampled_from(["view", "head", "view", "head", "stamp", "record"]),
    st.lists(byte_edit, min_size=1, max_size=4),
)
entry_op = st.tuples(
    st.just("entry"), st.sampled_from(["view", "head", "record"]),
    st.sampled_from(["line", "block", "unsigned"]), st.sampled_from(sorted(ENTRY_TEMPLATES)),
)
raw_op = st.tuples(
    st.just("raw"), st.just("view"), st.just("line"), st.sampled_from(sorted(set(RAW_TEMPLATES) - NOT_IN_VIEW)),
) | st.tuples(
    st.just("raw"), st.just("head"), st.sampled_from(["line", "unsigned"]), st.sampled_from(sorted(RAW_TEMPLATES)),
) | st.tuples(
    st.just("raw"), st.just("record"), st.just("line"), st.sampled_from(sorted(set(RAW_TEMPLATES) - NOT_IN_RECORD)),
)
interesting_strings = st.sampled_from(
    ["$SECRET_CSV", "$SECRET_PARQUET", "$DECOY_DATA", "$DOTDOT_DATA", "$CANARY_MODULE.Evil",
     "yaml_file_cat", "csv", "persisted_parquet", "{{ CATALOG_DIR }}", "../..", "$TOKEN",
     "$DATA", "file://$SECRET_CSV", "simplecache::$DATA", "", "\x00", "\ud800", "\u2028", "é"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12) | interesting_strings,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=8) | interesting_strings, inner, max_size=4),
    max_leaves=12,
)
FIELDS = ["driver", "args", "args.urlpath", "args.engine", "args.path", "args.storage_options",
          "description", "metadata", "metadata.ttl", "metadata.timestamp", "metadata.original_tok",
          "metadata.persist_version", "metadata.persist_keep", "metadata.dependencies",
          "metadata.container", "metadata.original_source", "metadata.original_name",
          "metadata.original_parameters", "metadata.persist_kwargs", "metadata.persist_bytes",
          "metadata.original_metadata", "metadata.new_key", "new_key"]
field_op = st.tuples(
    st.just("field"), st.sampled_from(["view", "head", "record"]),
    st.sampled_from(["line", "block", "unsigned"]), st.sampled_from(FIELDS),
    json_values | st.just("$DELETE"),
)
huge_op = st.tuples(st.just("huge"), TARGETS, st.sampled_from([100_000, 1_000_000, 3_000_000]))
keys_op = st.tuples(st.just("keys"), st.sampled_from(ODD_KEYS),
                    st.none() | st.sampled_from(sorted(ENTRY_TEMPLATES)))
dup_op = st.tuples(st.just("dup"), st.booleans(), st.sampled_from(sorted(ENTRY_TEMPLATES)))
format_op = st.tuples(st.just("format"), st.sampled_from(["header", "flow", "extra"]),
                      st.sampled_from(FORMATS)) | st.tuples(
    st.just("format"), st.just("head"), st.sampled_from(["3", "1", "x"]))
restamp_op = st.just(("restamp",))
#: hard links are safe where the store replaces files by renaming them; lock files
#: are written in place (see test_a_hard_linked_lock_file_...)
hardlink_op = st.tuples(st.just("hardlink"), st.sampled_from(["view", "head", "stamp", "record"]))
#: named pipes are left out: any the store reads blocks it (see test_a_named_pipe_...)
dir_op = st.tuples(st.just("dir"), st.sampled_from(["view", "head", "stamp", "record", "viewlock",
                                                    "tokenlock"]))
journal_op = st.tuples(st.just("journal"), st.sampled_from(
    ["$TOKEN.99999999999999999999999.del", "$TOKEN.99999999999999999999999.put", "$TOKEN.0.del",
     "$TOKEN.1.put", "$TOKEN.abc.put", "$TOKEN", "$TOKEN.1.put.x", ".hidden", "cat.yaml",
     "ffffffffffffffffffffffffffffffff.1.put", "ffffffffffffffffffffffffffffffff.1.del"]))
extra_head_op = st.tuples(
    st.just("extra-head"),
    st.sampled_from(["ffffffffffffffffffffffffffffffff", "cat.yaml", "$TOKEN.tmp", "not-a-token"]),
    st.sampled_from(sorted(ENTRY_TEMPLATES) + sorted(set(RAW_TEMPLATES) - NOT_IN_RECORD)),
    st.booleans(),
)
#: (thousands of entries: test_a_big_hand_edited_view_is_folded_quickly, in the slow suite)
many_op = st.tuples(st.just("many"), st.just("odd"), st.sampled_from([100, 400])) | st.tuples(
    st.just("many"), st.just("tokens"), st.sampled_from([10, 100]))
symlink_op = st.tuples(st.just("symlink"), st.sampled_from(SYMLINK_PLACES), st.sampled_from(SYMLINK_TARGETS))
remove_op = st.tuples(st.just("remove"), st.sampled_from(REMOVABLE))

content_op = st.one_of(entry_op, raw_op, field_op, keys_op, dup_op, format_op, restamp_op,
                       extra_head_op, journal_op)
files_op = st.one_of(symlink_op, remove_op, hardlink_op, dir_op)
any_op = st.one_of(bytes_op, entry_op, raw_op, field_op, huge_op, keys_op, dup_op, format_op,
                   symlink_op, remove_op, restamp_op, hardlink_op, dir_op, journal_op,
                   extra_head_op, many_op)


# -- the fuzz tests ----------------------------------------------------------------------------
@settings(max_examples=30, **FUZZ_SETTINGS)
@given(ops=st.lists(bytes_op, min_size=1, max_size=2))
def test_fuzz_random_bytes(world, ops):
    fuzz(world, ops)


@settings(max_examples=50, **FUZZ_SETTINGS)
@given(ops=st.lists(content_op, min_size=1, max_size=2))
def test_fuzz_hostile_entries(world, ops):
    fuzz(world, ops)


@settings(max_examples=30, **FUZZ_SETTINGS)
@given(ops=st.lists(files_op, min_size=1, max_size=3))
def test_fuzz_links_and_files(world, ops):
    fuzz(world, ops)


@settings(max_examples=40, **FUZZ_SETTINGS)
@given(ops=st.lists(any_op, min_size=1, max_size=4))
def test_fuzz_combinations(world, ops):
    fuzz(world, ops)


@pytest.mark.slow
@settings(max_examples=400, **FUZZ_SETTINGS)
@given(ops=st.lists(any_op, min_size=1, max_size=5))
def test_fuzz_everything_long(world, ops):
    fuzz(world, ops)


# -- each attack once, explicitly ------------------------------------------------------------------
#: name: (mutations, what the first access serves, what a persist() afterwards raises)
ATTACKS: dict[str, tuple[list[tuple], str, type | None]] = {
    "python-tag-in-view": ([("raw", "view", "line", "tag-apply")], "copy", None),
    "python-tag-in-head": ([("raw", "head", "line", "tag-apply")], "copy", None),
    "python-module-tag-in-view": ([("raw", "view", "line", "tag-module")], "copy", None),
    "python-tag-in-a-key": ([("raw", "head", "unsigned", "tag-in-key")], "copy", None),
    "python-tag-in-another-head": ([("extra-head", "f" * 32, "tag-apply", True)], "copy", None),
    "catalog-outside": ([("entry", "view", "line", "catalog-yaml_file_cat-outside")], "original", None),
    "catalogs-list": ([("entry", "view", "block", "catalog-yaml_files_cat-list")], "original", None),
    "catalog-class-inside": ([("entry", "head", "line", "catalog-intake.catalog.local.YAMLFileCatalog-inside")],
                             "original", None),
    "textfiles-file-url": ([("entry", "view", "block", "textfiles-urlpath-file-url")], "original", None),
    "csv-chained": ([("entry", "view", "line", "csv-urlpath-chained")], "original", None),
    "parquet-in-a-dict": ([("entry", "head", "line", "persisted_parquet-urlpath-dict")], "original", None),
    "parquet-relative": ([("entry", "view", "line", "persisted_parquet-path-relative")], "original", None),
    "parquet-decoy-store": ([("entry", "view", "line", "parquet-decoy")], "original", None),
    "parquet-storage-options": ([("entry", "view", "line", "parquet-storage-options")], "copy", None),
    "version-dotdot": ([("entry", "view", "line", "version-dotdot")], "original", None),
    "decoy-in-record-yaml": ([("entry", "record", "line", "parquet-decoy"),
                              ("bytes", "head", [("flip", 5, 1)])], "original", None),
    "refresh-imports-nothing": ([("entry", "view", "line", "refresh-canary-original")], "copy", None),
    "refresh-writer-args": ([("entry", "view", "line", "refresh-hostile-writer-args")], "copy", None),
    "alias-bomb-in-view": ([("raw", "view", "line", "bomb-9")], "copy", None),
    "alias-bomb-in-head": ([("raw", "head", "line", "entry-bomb-9")], "copy", None),
    "deep-nesting-in-head": ([("raw", "head", "line", "deep-map-100000")], "copy", None),
    "huge-strings": ([("huge", "view", 3_000_000), ("huge", "head", 3_000_000)], "copy", None),
    "complex-key": ([("keys", "? [a, b]", None)], "copy", None),
    "name-key-to-decoy": ([("keys", "csvsource", "parquet-decoy")], "copy", None),
    "duplicate-key": ([("dup", True, "parquet-decoy")], "copy", None),
    "newer-format": ([("format", "header", "3")], "original", IndexFormatError),
    "newer-format-flow": ([("format", "flow", "0x3")], "original", IndexFormatError),
    "head-format-3": ([("format", "head", "3")], "original", IndexFormatError),
    "journal-marker": ([("journal", "$TOKEN.99999999999999999999999.del")], "copy", None),
    "symlinked-token-folder": ([("symlink", "token", "decoy")], "original", PersistPathError),
    "symlinked-data-folder": ([("symlink", "data", "decoy")], "original", None),
    "symlinked-head": ([("symlink", "head", "decoy")], "original", PersistPathError),
    "symlinked-heads": ([("symlink", "heads", "dangling")], "original", PersistPathError),
    "symlinked-view": ([("symlink", "view", "decoy")], "original", PersistPathError),
    "symlinked-view-lock": ([("symlink", "viewlock", "dangling")], "copy", None),
    "symlinked-token-lock": ([("symlink", "tokenlock", "dangling")], "copy", PersistPathError),
    "hard-linked-view-and-head": ([("hardlink", "view"), ("hardlink", "head")], "copy", None),
    "folder-for-head": ([("dir", "head")], "original", PersistPathError),
    "folder-for-token-lock": ([("dir", "tokenlock")], "copy", PersistPathError),
    "folder-for-view-lock": ([("dir", "viewlock")], "copy", None),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_an_attack_on_the_store(world, name):
    ops, served, error = ATTACKS[name]
    result = assert_example(world, ops, strict=True)
    assert result.outcomes[0].persisted == (served == "copy")
    assert type(result.persist_error) is (error or type(None)), result.persist_error
    assert result.outcomes[1].persisted == (error is None or served == "copy")


@pytest.mark.slow
@pytest.mark.parametrize("target,style", [("view", "line"), ("view", "block"), ("head", "line"),
                                          ("record", "line")])
def test_every_template(world, target, style):
    problems = []
    for name in sorted(ENTRY_TEMPLATES):
        ops = [("entry", target, style, name)] + ([("bytes", "head", [("flip", 5, 1)])] if target == "record" else [])
        problems += [f"{name}: {p}" for p in run_example(world, ops).problems]
    for name in sorted(RAW_TEMPLATES):
        if (target, style) == ("view", "block") or name in (NOT_IN_VIEW if target == "view" else
                                                            NOT_IN_RECORD if target == "record" else ()):
            continue
        ops = [("raw", target, style, name)] + ([("bytes", "head", [("flip", 5, 1)])] if target == "record" else [])
        problems += [f"{name}: {p}" for p in run_example(world, ops).problems]
    assert not problems, "\n".join(problems)


# -- what the fuzz tests found, each fixed -----------------------------------------------------------
@pytest.mark.parametrize("ops", [
    [("field", "view", "line", "args.urlpath", None)],
    [("field", "head", "line", "args.urlpath", False)],
    [("field", "view", "line", "args.urlpath", [])],
    [("field", "view", "line", "args.path", [None])],
], ids=["null", "false", "empty-list", "path-kwarg"])
def test_a_path_argument_that_names_no_data_gives_the_original(world, ops):
    assert_example(world, ops, strict=True)


@pytest.mark.parametrize("ops", [
    [("field", "view", "line", "args.urlpath", "{{ CATALOG_DIR }}/$TOKEN/$VERSION/record.yaml")],
    [("field", "view", "line", "args.urlpath", "{{ CATALOG_DIR }}/$TOKEN/$VERSION/dbta")],
], ids=["record-yaml", "missing-file"])
def test_a_path_inside_the_folder_that_is_not_the_data_gives_the_original(world, ops):
    first = assert_example(world, ops, strict=True).outcomes[0]
    assert not first.persisted and any('other than version' in m and "serving the original" in m
                                       for m in first.warnings), first.warnings


@pytest.mark.parametrize("ops", [
    [("field", "view", "line", "args.engine", "x")],
    [("field", "head", "line", "args.columns", ["id"])],
    [("field", "view", "line", "driver", "zarr")],
], ids=["engine", "columns", "driver-zarr"])
def test_edited_driver_arguments_give_the_original(world, ops):
    first = assert_example(world, ops, strict=True).outcomes[0]
    assert not first.persisted and any('other than version' in m and "serving the original" in m
                                       for m in first.warnings), first.warnings


def test_a_copy_whose_data_folder_is_gone_gives_the_original(world):
    first = assert_example(world, [("remove", "data")], strict=True).outcomes[0]
    assert not first.persisted and any('is missing from' in m and "serving the original" in m
                                       for m in first.warnings), first.warnings


@pytest.mark.parametrize("name", ["deep-list-1000", "deep-map-100000"])
def test_a_view_line_nested_too_deeply_is_one_bad_entry(world, name):
    result = assert_example(world, [("raw", "view", "line", name)], strict=True)
    assert result.outcomes[0].persisted and result.persist_error is None


def test_an_alias_bomb_in_a_record_yaml_is_refused(world):
    result = assert_example(world, [("raw", "record", "line", "entry-bomb-4"),
                                    ("bytes", "head", [("flip", 5, 1)])], strict=True)
    served = result.outcomes[0].served
    assert len(json.dumps(getattr(served, "metadata", {}), default=str)) < 100_000


@pytest.mark.parametrize("place", ["view", "head", "stamp"])
def test_a_named_pipe_in_the_store_does_not_block_an_access(world, place):
    assert_example(world, [("fifo", place)], strict=True)


@pytest.mark.parametrize("place", ["viewlock", "tokenlock"])
def test_a_hard_linked_lock_file_writes_nothing_outside(world, place):
    assert_example(world, [("hardlink", place)], strict=True)


def test_a_newer_format_with_a_matching_stamp_is_refused(world):
    result = run_example(world, [("format", "header", "3"), ("restamp",)])
    assert isinstance(result.persist_error, IndexFormatError)


@pytest.mark.slow
@pytest.mark.parametrize("ops", [[("many", "odd", 5000)], [("many", "tokens", 3000)]],
                         ids=["odd-keys", "new-tokens"])
def test_a_big_hand_edited_view_is_folded_quickly(world, ops):
    assert_example(world, ops, strict=True)
