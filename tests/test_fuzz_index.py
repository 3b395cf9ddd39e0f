"""Fuzzing a hostile store: whatever anyone who can write files in the persist
store does to its index (``cat.yaml``, a head, a ``record.yaml``, symbolic
links), a catalog access of the original entry

* finishes in well under two seconds (``.read()`` included),
* runs no code (no canary file appears, no canary module is imported),
* reads nothing outside the store (the outside secret never shows up) and
  creates, changes or deletes nothing outside the store,
* serves either the persisted copy or the original, both with exactly the
  original's data,
* never raises (not even ``SystemExit``);

and a fresh ``persist()`` afterwards either works or raises a
:class:`~intake_persistplus.PersistError`, and writes nothing outside the store.

Each example copies a template store (one real ``persist()`` per test), applies
a generated list of mutations to the copy, then checks the above in this
process. A mutation is a plain tuple, so a failing example printed by
hypothesis can be replayed with :func:`run_example` (see the explicit
examples at the end of the file).

``-m slow`` also runs a bigger search (``test_fuzz_everything_long``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import intake
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from intake_persistplus import PersistError, PersistStore

from .conftest import make_frame

if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):  # its caches, not in the project folder
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "intake-persistplus-hypothesis")

#: the bound on a catalog access plus ``read()`` of a hostile store
ACCESS_SECONDS = 2.0

FUZZ_SETTINGS = dict(
    deadline=timedelta(seconds=15),  # generous; the 2 s bound is asserted by the test itself
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the template store is shared on purpose
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


# -- the world: a template store, an outside secret, canaries --------------------------------
@dataclass
class World:
    root: Path  # the test's tmp_path: everything outside the store under test lives here
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
        }


def _write_parquet(frame: pd.DataFrame, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "part.00000.parquet", index=False)


@pytest.fixture
def world(csv_catalog, tmp_path, monkeypatch) -> World:
    template = tmp_path / "template"
    monkeypatch.setitem(intake.conf, "persist_path", str(template))
    cat = intake.open_catalog(str(csv_catalog))
    original = cat.csvsource(persist_mode="never")
    expected = original.read()
    original.persist()
    # warm up every import a catalog access may need (the 2 s bound excludes them)
    served = intake.open_catalog(str(csv_catalog)).csvsource
    assert served.is_persisted
    pd.testing.assert_frame_equal(served.read(), expected)

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
}

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


@dataclass
class Example:
    w: World
    store: Path
    ph: dict
    notes: list[str] = field(default_factory=list)

    def read(self, what: str) -> bytes | None:
        p = safe(self.store, relpath(self.w, what))
        if p is None or not p.is_file():
            return None
        return p.read_bytes()

    def write(self, what: str, data: bytes) -> None:
        p = safe(self.store, relpath(self.w, what))
        if p is None or not p.parent.is_dir():
            self.notes.append(f"skipped writing {what}")
            return
        if p.is_dir():
            shutil.rmtree(p)
        p.write_bytes(data)

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
                (p / "evil.yaml").write_text(w.evil_catalog.read_text())
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
@dataclass
class Outcome:
    escaped: BaseException | None = None
    elapsed: float = 0.0
    persisted: bool | None = None
    frame: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)


def access(w: World) -> Outcome:
    out = Outcome()
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            source = intake.open_catalog(str(w.catalog)).csvsource
            out.frame = source.read()
            out.persisted = bool(source.is_persisted)
    except BaseException as e:  # noqa: BLE001 - SystemExit and all: nothing may escape
        out.escaped = e
        seen = []
    out.elapsed = time.perf_counter() - t0
    out.warnings = [str(m.message) for m in seen]
    return out


def check_access(w: World, out: Outcome, when: str) -> list[str]:
    problems = []
    if out.escaped is not None:
        problems.append(f"{when}: the catalog access raised {type(out.escaped).__name__}: "
                        f"{str(out.escaped)[:500]}")
        return problems
    if out.elapsed > ACCESS_SECONDS:
        problems.append(f"{when}: the access and read() took {out.elapsed:.2f} s")
    frame = out.frame
    if not isinstance(frame, pd.DataFrame) or not frame.equals(w.expected):
        problems.append(f"{when}: served data differs from the original's "
                        f"(persisted={out.persisted}): {str(frame)[:300]}")
    elif w.secret in frame.to_csv():  # pragma: no cover - equals() says it cannot
        problems.append(f"{when}: the secret was served")
    leaked = [m for m in out.warnings if w.secret in m]
    if leaked:
        problems.append(f"{when}: a warning shows the outside secret: {leaked[0][:300]}")
    return problems


def check_canaries(w: World) -> list[str]:
    problems = [f"code ran: {c} exists" for c in w.canaries if c.exists()]
    if w.canary_module in sys.modules:
        problems.append(f"code ran: {w.canary_module} was imported")
    return problems


def run_example(w: World, ops: list[tuple]) -> list[str]:
    """Mutate a fresh copy of the template store with ``ops``; return what went wrong."""
    w.counter[0] += 1
    folder = w.root / "examples" / str(w.counter[0])
    store = folder / "persisted"
    folder.mkdir(parents=True)
    shutil.copytree(w.template, store, symlinks=True)
    previous = intake.conf.get("persist_path")
    intake.conf["persist_path"] = str(store)
    try:
        PersistStore(str(store)).compact()  # the copy's view is current again (its stamp)
        ex = Example(w, store, w.placeholders(store))
        for op in ops:
            apply(ex, op)
        before = snapshot(w.root, store)
        problems = check_access(w, access(w), "access")
        problems += check_canaries(w)

        # a fresh persist works or raises a PersistError
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                intake.open_catalog(str(w.catalog)).csvsource(persist_mode="never").persist()
            persist_error = None
        except BaseException as e:  # noqa: BLE001
            persist_error = e
        if persist_error is not None and not isinstance(persist_error, PersistError):
            problems.append(f"persist() raised {type(persist_error).__name__} (not a PersistError): "
                            f"{str(persist_error)[:500]}")
        problems += check_access(w, access(w), "access after persist()")
        problems += check_canaries(w)
        problems += [f"outside the store: {c}" for c in diff(before, snapshot(w.root, store))]
        return problems
    finally:
        intake.conf["persist_path"] = previous
        for c in w.canaries:
            c.unlink(missing_ok=True)
        sys.modules.pop(w.canary_module, None)
        shutil.rmtree(folder, ignore_errors=True)


def assert_example(w: World, ops: list[tuple]) -> None:
    problems = run_example(w, ops)
    assert not problems, f"mutations {ops!r}:\n  " + "\n  ".join(problems)


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
    st.just("raw"), st.sampled_from(["view", "head", "record"]), st.sampled_from(["line", "unsigned"]),
    st.sampled_from(sorted(RAW_TEMPLATES)),
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
symlink_op = st.tuples(st.just("symlink"), st.sampled_from(SYMLINK_PLACES), st.sampled_from(SYMLINK_TARGETS))
remove_op = st.tuples(st.just("remove"), st.sampled_from(REMOVABLE))

content_op = st.one_of(entry_op, raw_op, field_op, keys_op, dup_op, format_op)
any_op = st.one_of(bytes_op, entry_op, raw_op, field_op, huge_op, keys_op, dup_op, format_op,
                   symlink_op, remove_op)


# -- the fuzz tests ----------------------------------------------------------------------------
@settings(max_examples=25, **FUZZ_SETTINGS)
@given(ops=st.lists(bytes_op, min_size=1, max_size=2))
def test_fuzz_random_bytes(world, ops):
    assert_example(world, ops)


@settings(max_examples=35, **FUZZ_SETTINGS)
@given(ops=st.lists(content_op, min_size=1, max_size=2))
def test_fuzz_hostile_entries(world, ops):
    assert_example(world, ops)


@settings(max_examples=20, **FUZZ_SETTINGS)
@given(ops=st.lists(symlink_op | remove_op, min_size=1, max_size=3))
def test_fuzz_symlinks_and_removals(world, ops):
    assert_example(world, ops)


@settings(max_examples=25, **FUZZ_SETTINGS)
@given(ops=st.lists(any_op, min_size=1, max_size=4))
def test_fuzz_combinations(world, ops):
    assert_example(world, ops)


@pytest.mark.slow
@settings(max_examples=400, **FUZZ_SETTINGS)
@given(ops=st.lists(any_op, min_size=1, max_size=5))
def test_fuzz_everything_long(world, ops):
    assert_example(world, ops)


# -- every template once, explicitly -------------------------------------------------------------
@pytest.mark.parametrize("target,style", [("view", "line"), ("view", "block"), ("head", "line"),
                                          ("record", "line")])
def test_every_entry_template(world, target, style):
    problems = []
    for name in sorted(ENTRY_TEMPLATES):
        problems += [f"{name}: {p}" for p in run_example(world, [("entry", target, style, name)])]
    for name in sorted(RAW_TEMPLATES):
        if style == "line":
            problems += [f"{name}: {p}" for p in run_example(world, [("raw", target, style, name)])]
    assert not problems, "\n".join(problems)
