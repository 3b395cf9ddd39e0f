"""The store's index: one *head* per persisted source is the truth, ``cat.yaml`` a
compacted view of the heads that intake (and any YAML reader) can open.

What a user sees, checked here: the entries a store returns, the entries
``intake.open_catalog(<root>/cat.yaml)`` lists, the files in the store, and the
warnings and errors raised. The store is a real folder; nothing is mocked.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import intake
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

import intake_persistplus.index.core
import intake_persistplus.index.listing
from intake_persistplus import IndexFormatError, PersistWarning, store
from intake_persistplus.index import FORMAT, HEADER, Index, dump_block
from intake_persistplus.index.listing import Listed
from intake_persistplus.index.text import decode_entry, encode_entry, read_view, view_text
from intake_persistplus.layout import (
    LocalLocation,
    is_token,
    is_version_id,
    location,
    new_version_id,
)
from intake_persistplus.record import Record

from .conftest import make_frame, write_catalog
from .test_new_user import _mount_tmpfs

if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):  # its caches, not in the project folder
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "intake-persistplus-hypothesis")

#: the header of a view written by intake-persistplus 0.1.0
HEADER_1 = HEADER.replace(f"persistplus_index: {FORMAT}", "persistplus_index: 1")


# -- helpers ----------------------------------------------------------------------------------
def tok(i: int) -> str:
    return f"ab{i:030x}"


def record(i: int, ttl=None, description: str = "") -> Record:
    token = tok(i)
    version = new_version_id()
    return Record(
        token=token,
        driver="persisted_parquet",
        args={"urlpath": "{{ CATALOG_DIR }}/" + f"{token}/{version}/data", "engine": "pyarrow"},
        container="dataframe",
        original_name=f"source{i}",
        original_description="d",
        original_metadata={"i": i},
        original_source={"cls": "intake.source.csv.CSVSource", "args": [], "kwargs": {"urlpath": f"/x/{i}.csv"}},
        timestamp=time.time(),
        ttl=ttl,
        persist_kwargs={},
        version=version,
        description=description,
    )


def fresh(root: Path, rebuild=None) -> Index:
    """An Index of ``root`` as another process would open it."""
    return Index(location(str(root)), rebuild=rebuild)


def view_text_of(root: Path) -> str:
    return (root / "cat.yaml").read_text()


def view_sources(root: Path) -> dict:
    """``sources:`` of cat.yaml as any YAML reader sees the file now, without the
    ``persist_generation`` the store adds to each entry's metadata."""
    sources = yaml.safe_load(view_text_of(root))["sources"] or {}
    for entry in sources.values():
        if isinstance(entry, dict) and isinstance(entry.get("metadata"), dict):
            entry["metadata"].pop("persist_generation", None)
    return sources


def listed(root: Path) -> list[str]:
    """What ``intake.open_catalog`` of the store's cat.yaml lists."""
    return sorted(intake.open_catalog(str(root / "cat.yaml")))


def is_canonical(root: Path) -> bool:
    """cat.yaml is in the store's own layout: the header, then one entry a line."""
    return read_view(view_text_of(root)) is not None


def journal(root: Path) -> list[str]:
    folder = root / ".journal"
    return sorted(os.listdir(folder)) if folder.exists() else []


def head_path(root: Path, token: str) -> Path:
    return root / ".heads" / token


def live_heads(root: Path) -> list[str]:
    """The heads that are entries (a removed source leaves a tombstone head)."""
    return sorted(p.name for p in (root / ".heads").iterdir()
                  if '"persist_removed"' not in p.read_text(errors="replace"))


def head_entry(root: Path, token: str) -> dict:
    """The entry a head holds (its second line), without the generation it also
    carries in its metadata (checked here to be the head's own)."""
    first, line = head_path(root, token).read_text().split("\n", 1)
    assert first.startswith("#persistplus-head 2 ")
    entry = json.loads(line)
    assert entry["metadata"].pop("persist_generation") == int(first.split()[2])
    return entry


def put_all(idx: Index, recs) -> dict[str, Record]:
    for r in recs:
        idx.put(r)
    return {r.token: r for r in recs}


def persist_warnings(seen) -> list[str]:
    return [str(w.message) for w in seen if issubclass(w.category, PersistWarning)]


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def index(root) -> Index:
    root.mkdir()
    idx = fresh(root)
    idx.ensure()
    return idx


@pytest.fixture
def big_store(monkeypatch):
    """Every store counts as big: commits leave their journal markers."""
    monkeypatch.setattr(intake_persistplus.index.core, "SMALL_VIEW", 0)


@pytest.fixture
def no_persist_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", PersistWarning)
        yield


# -- commits and the view ----------------------------------------------------------------------
def test_an_empty_store_is_an_empty_catalog(index, root):
    assert listed(root) == [] and len(index) == 0 and index.tokens() == []
    assert view_sources(root) == {}


def test_put_get_delete_round_trip(index, root):
    recs = put_all(index, [record(1), record(2), record(3)])
    for token, rec in recs.items():
        assert index.get(token) == rec
        assert head_entry(root, token) == rec.to_entry()
    other = fresh(root)  # as if in another process
    assert sorted(other.tokens()) == sorted(recs) and len(other) == 3
    assert [r.token for r in other.named("source2")] == [tok(2)]

    newer = record(2, ttl=5)
    index.put(newer)
    assert other.get(tok(2)) == newer and other.get(tok(2)).ttl == 5

    assert index.delete(tok(1)) is True
    assert index.delete(tok(1)) is False
    assert other.get(tok(1)) is None and tok(1) not in other
    assert other.named("source1") == []
    assert sorted(other.tokens()) == [tok(2), tok(3)]
    assert live_heads(root) == [tok(2), tok(3)]
    assert '"persist_removed"' in head_path(root, tok(1)).read_text()  # a tombstone
    assert not [n for n in os.listdir(root) if n.endswith(".tmp")]


def test_a_small_store_view_lists_exactly_the_entries_after_each_commit(index, root):
    expected: dict[str, Record] = {}

    def check():
        assert journal(root) == []  # every commit was folded into the view
        assert is_canonical(root)
        sources = view_sources(root)  # the raw file, as any YAML reader sees it
        assert sorted(sources) == sorted(expected)
        for token, rec in expected.items():
            assert Record.from_entry(token, sources[token]) == rec
        assert listed(root) == sorted(expected)

    for i in range(4):
        rec = record(i)
        index.put(rec)
        expected[rec.token] = rec
        check()
    rec = record(2, ttl=60)  # a new version of a source already there
    index.put(rec)
    expected[rec.token] = rec
    check()
    for i in (0, 3):
        assert index.delete(tok(i))
        del expected[tok(i)]
        check()


def test_a_persist_through_intake_is_in_the_view_at_once(csv_catalog, persist_dir):
    source = intake.open_catalog(str(csv_catalog)).csvsource
    source.persist()
    token = store.record(source(persist_mode="never")).token
    assert list(view_sources(persist_dir)) == [token] and journal(persist_dir) == []
    cat = intake.open_catalog(str(persist_dir / "cat.yaml"))
    assert list(cat) == [token]
    assert cat[token].read().shape == (200, 4)
    assert store.remove(token) is True
    assert view_sources(persist_dir) == {} and listed(persist_dir) == []


def test_a_rewrite_keeps_the_file_mode(index, root):
    index.put(record(1))
    os.chmod(root / "cat.yaml", 0o664)
    index.put(record(1, ttl=3))
    index.put(record(2))
    assert os.stat(root / "cat.yaml").st_mode & 0o777 == 0o664
    assert sorted(view_sources(root)) == [tok(1), tok(2)]


# -- a big store: the view catches up when the whole store is read -------------------------------
def test_a_big_store_keeps_journal_markers_until_the_view_is_compacted(big_store, index, root):
    before = view_text_of(root)
    recs = put_all(index, [record(1), record(2), record(3)])
    assert index.delete(tok(3))
    marks = journal(root)
    assert {m.split(".")[0] for m in marks} == {tok(1), tok(2), tok(3)}
    assert sorted(m.rsplit(".", 1)[1] for m in marks) == ["del", "put", "put", "put"]
    assert view_text_of(root) == before  # the view is stale ...
    assert index.get(tok(1)) == recs[tok(1)]  # ... but lookups read the heads
    assert fresh(root).get(tok(2)) == recs[tok(2)]
    assert fresh(root).get(tok(3)) is None

    assert sorted(fresh(root).tokens()) == [tok(1), tok(2)]  # reading the whole store compacts
    assert journal(root) == []
    assert sorted(view_sources(root)) == [tok(1), tok(2)] and is_canonical(root)


def test_open_catalog_of_a_big_store_shows_every_entry(big_store, index, root):
    put_all(index, [record(1), record(2)])
    assert view_sources(root) == {} and journal(root)
    assert listed(root) == [tok(1), tok(2)]
    assert journal(root) == [] and sorted(view_sources(root)) == [tok(1), tok(2)]


def test_open_catalog_of_a_big_store_after_a_persist(big_store, csv_catalog, persist_dir):
    source = intake.open_catalog(str(csv_catalog)).csvsource
    source.persist()
    token = store.record(source(persist_mode="never")).token
    assert view_sources(persist_dir) == {}
    assert [m.split(".")[0] for m in journal(persist_dir)] == [token]
    cat = intake.open_catalog(str(persist_dir / "cat.yaml"))
    assert list(cat) == [token] and cat[token].read().shape == (200, 4)
    assert journal(persist_dir) == []


# -- the listing: what `intake-persist list` shows, kept beside the view ---------------------------
def listing_of(root: Path) -> dict:
    """What a fresh process's listing shows, as plain tuples."""
    return {t: tuple(x) for t, x in fresh(root).listing().items()}


def records_of(root: Path) -> dict:
    """The same fields of the records (decoded from every line of the compacted view)."""
    return {t: tuple(Listed.of(r)) for t, r in fresh(root).records().items()}


def test_the_listing_shows_what_the_records_hold_after_every_kind_of_change(
        big_store, index, root, monkeypatch):
    monkeypatch.setattr(intake_persistplus.index.listing, "LIST_MERGES", 3)
    steps = [
        lambda: put_all(index, [record(i) for i in range(6)]),  # 6 markers > 3: compacted
        lambda: index.put(record(2, ttl=60)),                   # one marker: merged from its head
        lambda: index.delete(tok(4)),
        lambda: edit_line(root, tok(1), '"ttl": null', '"ttl": 7'),  # a hand edit, folded
        lambda: put_all(index, [record(i, ttl=i) for i in range(6, 12)]),
        lambda: (root / ".cat.yaml.list").unlink(),             # the cache lost
    ]
    for step in steps:
        step()
        shown = listing_of(root)
        assert shown == records_of(root)
        assert shown == listing_of(root)  # the second listing reads the file it left
    assert sorted(shown) == sorted({tok(i) for i in range(12)} - {tok(4)})
    assert shown[tok(1)][5] == 7 and shown[tok(2)][5] == 60


def test_a_hand_edit_of_one_line_reads_only_the_heads_it_touches(big_store, index, root, monkeypatch):
    """With the listing kept beside the view, folding a hand edit of a big view
    looks at the lines edited (and the ones removed), not at every head."""
    put_all(index, [record(i) for i in range(300)])
    fresh(root).listing()  # compacts, and keeps the listing for this view
    edit_line(root, tok(7), '"ttl": null', '"ttl": 77')
    lines = view_text_of(root).split("\n")
    (root / "cat.yaml").write_text("\n".join(line for line in lines if not line.startswith(f"  {tok(8)}: ")))
    reads = []
    real = LocalLocation.read_bytes

    def counted(self, *parts, **kwargs):  # which heads the fold reads from disk
        if parts[:1] == (".heads",):
            reads.append(parts[1])
        return real(self, *parts, **kwargs)

    monkeypatch.setattr(LocalLocation, "read_bytes", counted)
    other = fresh(root)
    assert other.get(tok(7)).ttl == 77 and other.get(tok(8)) is not None
    assert set(reads) <= {tok(7), tok(8)}, sorted(set(reads))[:5]
    monkeypatch.setattr(LocalLocation, "read_bytes", real)
    assert sorted(view_sources(root)) == sorted(tok(i) for i in range(300))  # tok(8) is back
    assert listing_of(root) == records_of(root) and listing_of(root)[tok(7)][5] == 77


def test_a_listing_after_a_few_commits_leaves_the_view_alone(big_store, index, root):
    put_all(index, [record(i) for i in range(5)])
    fresh(root).listing()  # compacts: the view and the listing are current
    view = view_text_of(root)
    index.put(record(3, ttl=9))
    assert fresh(root).listing()[tok(3)].ttl == 9
    assert view_text_of(root) == view and len(journal(root)) == 1  # left for a compaction
    assert fresh(root).get(tok(3)).ttl == 9 and listed(root) == sorted(tok(i) for i in range(5))


@pytest.mark.parametrize("damage", [
    b"not json", b"[]", b'{"format": 2, "rows": {}}', b'{"format": 99, "shape": "columns"}',
    "row:name-int", "row:size-bool", "row:time-text", "row:time-nan", "row:short-column",
    "row:not-a-token", "row:token-newline", "row:token-twice", "row:params-list",
    "row:refused-and-listed", "other-view", "missing-rows", "lines-changed",
], ids=lambda d: d if isinstance(d, str) else d[:12].decode())
def test_a_damaged_listing_file_is_rebuilt_from_the_view(index, root, damage):
    put_all(index, [record(i) for i in range(4)])
    truth = listing_of(root)
    path = root / ".cat.yaml.list"
    doc = json.loads(path.read_bytes())
    assert doc["shape"] == "columns" and len(doc["tokens"]) == 4 and doc["refused"] == {}
    tokens, cols = doc["tokens"], doc["columns"]
    k = tokens.index(tok(1))
    if isinstance(damage, bytes):
        path.write_bytes(damage)
    else:
        if damage == "row:name-int":
            cols[2][k] = 5
        elif damage == "row:size-bool":
            cols[7][k] = True
        elif damage == "row:time-text":
            cols[5][k] = "yesterday"
        elif damage == "row:time-nan":
            path.write_text(json.dumps(doc).replace(json.dumps(cols[5][k]), "NaN", 1))
        elif damage == "row:short-column":
            del cols[4][k]
        elif damage == "row:not-a-token":
            tokens[k] = "../x"
        elif damage == "row:token-newline":  # a token, then a line break: not a token
            tokens[k] += "\n"
        elif damage == "row:token-twice":
            tokens[k] = tokens[k - 1]
        elif damage == "row:params-list":
            cols[3][k] = []
        elif damage == "row:refused-and-listed":
            doc["refused"] = {tok(1): [0, 0, "refused"]}
        elif damage == "other-view":  # rows made from another view: checked line by line
            doc["view"] = "0" * 64
        elif damage == "missing-rows":
            for c in cols:
                del c[tokens.index(tok(2))]
            tokens.remove(tok(2))
        elif damage == "lines-changed":  # rows whose checksum is not their line's are remade
            doc["view"] = None
            cols[0] = [crc + 1 for crc in cols[0]]
            cols[2] = ["wrong"] * len(tokens)
        if damage != "row:time-nan":
            path.write_text(json.dumps(doc))
    assert listing_of(root) == truth == records_of(root)
    assert listing_of(root) == truth
    after = json.loads(path.read_bytes())  # rebuilt: nothing of the damage is kept
    assert after["refused"] == {} and sorted(after["tokens"]) == sorted(truth)
    assert after["view"] == json.loads((root / ".cat.yaml.stamp").read_bytes())["sha256"]


def test_a_key_or_version_id_followed_by_a_line_break_is_refused():
    version = new_version_id()
    assert is_token(tok(1)) and is_version_id(version)
    for bad in ("\n", "\r", " ", "/"):
        assert not is_token(tok(1) + bad) and not is_version_id(version + bad), repr(bad)


def test_the_listing_of_a_store_that_cannot_be_written(tmp_path, big_store):
    mount = tmp_path / "mnt"
    if not _mount_tmpfs(mount, "size=16m"):
        pytest.skip("mounting a tmpfs needs root and mount permission")
    try:
        root = mount / "store"
        root.mkdir()
        index = fresh(root)
        index.ensure()
        put_all(index, [record(i) for i in range(3)])  # journal markers: the view is behind
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        shown = listing_of(root)
        assert sorted(shown) == sorted(tok(i) for i in range(3)) == sorted(records_of(root))
        assert not (root / ".cat.yaml.list").exists() and len(journal(root)) == 3
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_view_line_whose_key_is_not_a_token_is_skipped_unread(index, root):
    """Keys the store ignores anyway are skipped line by line (a whole-file YAML
    parse of a big view takes seconds); keys YAML could read otherwise are not."""
    body = HEADER + "sources:\n  " + tok(1) + ': {"a": 1}\n'
    assert read_view(body + "  not-a-token-7: {broken\n") == {tok(1): '{"a": 1}'}
    assert read_view(body + "  12345678901234567: {}\n") == {tok(1): '{"a": 1}'}  # a number
    for key in ("&anchor", "*alias", "'quoted-non-token'", "!tag", "? x", '"' + tok(2) + '"'):
        assert read_view(body + f"  {key}: {{}}\n") is None, key


def test_a_view_with_a_line_break_yaml_sees_is_not_read_line_by_line(index, root):
    put_all(index, [record(1, description="a\u2028b"), record(2)])
    text = view_text_of(root)
    for brk in ("\r", "\x85", "\u2028", "\u2029"):
        edited = text.replace("a\\u2028b", f"a{brk}b")
        assert edited != text and read_view(edited) is None, repr(brk)


# -- hand edits of the view ----------------------------------------------------------------------
def edit_line(root: Path, token: str, old: str, new: str) -> None:
    """Change one entry's line in place, keeping the store's layout."""
    lines = view_text_of(root).split("\n")
    (n,) = [k for k, line in enumerate(lines) if line.startswith(f"  {token}: ")]
    assert old in lines[n]
    lines[n] = lines[n].replace(old, new)
    (root / "cat.yaml").write_text("\n".join(lines))


def edit_yaml(root: Path, change) -> None:
    """Load cat.yaml, change it, write it back with yaml.safe_dump (another layout)."""
    doc = yaml.safe_load(view_text_of(root))
    change(doc["sources"])
    (root / "cat.yaml").write_text(yaml.safe_dump(doc))


@pytest.mark.parametrize("how", ["one-line", "yaml-dump"])
def test_a_hand_edit_takes_effect_and_is_written_to_the_head(index, root, how, no_persist_warning):
    put_all(index, [record(1), record(2)])
    if how == "one-line":
        edit_line(root, tok(1), '"ttl": null', '"ttl": 36000')
    else:
        edit_yaml(root, lambda s: s[tok(1)]["metadata"].update(ttl=36000))

    assert fresh(root).get(tok(1)).ttl == 36000
    assert head_entry(root, tok(1))["metadata"]["ttl"] == 36000
    assert index.get(tok(1)).ttl == 36000  # an Index opened before sees it too
    assert index.get(tok(2)).ttl is None
    assert is_canonical(root) and view_sources(root)[tok(1)]["metadata"]["ttl"] == 36000
    assert intake.open_catalog(str(root / "cat.yaml"))[tok(1)].metadata["ttl"] == 36000


def test_a_hand_edit_through_the_store(csv_catalog, persist_dir, no_persist_warning):
    source = intake.open_catalog(str(csv_catalog)).csvsource
    source.persist()
    token = store.record(source(persist_mode="never")).token
    assert store.record(token).ttl is None
    edit_yaml(persist_dir, lambda s: s[token]["metadata"].update(ttl=3600))
    assert store.record(token).ttl == 3600
    assert head_entry(persist_dir, token)["metadata"]["ttl"] == 3600
    assert intake.open_catalog(str(csv_catalog)).csvsource.read().shape == (200, 4)


def test_a_hand_edit_of_a_source_committed_since_is_ignored_with_a_warning(big_store, index, root):
    index.put(record(1))
    index.put(record(2))
    index.compact()
    newer = record(1, ttl=5)
    index.put(newer)  # a marker is pending: the view still says ttl: null
    assert view_sources(root)[tok(1)]["metadata"]["ttl"] is None
    edit_yaml(root, lambda s: (s[tok(1)]["metadata"].update(ttl=100), s[tok(2)]["metadata"].update(ttl=7)))

    with pytest.warns(PersistWarning, match=f"hand edit of {tok(1)} .* is ignored"):
        got = fresh(root).get(tok(1))
    assert got == newer and got.ttl == 5  # the head wins
    assert head_entry(root, tok(1))["metadata"]["ttl"] == 5
    assert fresh(root).get(tok(2)).ttl == 7  # the other edit is applied
    assert view_sources(root)[tok(1)]["metadata"]["ttl"] == 5
    assert journal(root) == []


@pytest.mark.parametrize("how", ["one-line", "yaml-dump"])
def test_removing_an_entry_by_hand_loses_nothing(index, root, how, no_persist_warning):
    recs = put_all(index, [record(1), record(2), record(3)])
    if how == "one-line":
        lines = view_text_of(root).split("\n")
        (root / "cat.yaml").write_text("\n".join(x for x in lines if not x.startswith(f"  {tok(2)}:")))
    else:
        edit_yaml(root, lambda s: s.pop(tok(2)))
    assert tok(2) not in view_sources(root)

    assert fresh(root).get(tok(2)) == recs[tok(2)]
    assert sorted(view_sources(root)) == sorted(recs) and is_canonical(root)
    assert listed(root) == sorted(recs)


def test_truncating_the_view_at_any_line_loses_nothing(index, root):
    recs = put_all(index, [record(1), record(2), record(3)])
    text = view_text_of(root)
    lines = text.splitlines(keepends=True)
    for k in range(len(lines)):
        (root / "cat.yaml").write_text("".join(lines[:k]))
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            idx = fresh(root)
            for token, rec in recs.items():
                assert idx.get(token) == rec, f"cut after {k} lines"
        seen = persist_warnings(seen)
        if k == 0:  # an empty file is a damaged view: kept aside, said so
            assert len(seen) == 1 and "is empty" in seen[0], seen
        else:
            assert seen == [], (k, seen)
        assert sorted(view_sources(root)) == sorted(recs), f"cut after {k} lines"
        assert view_text_of(root) == text  # rewritten as it was
    assert listed(root) == sorted(recs)


ALIAS_BOMB = (
    "sources:\n  " + "a" * 32 + ":\n    metadata: "
    + "[" + ", ".join(
        ["&l0 [" + ",".join(["x"] * 10) + "]"]
        + [f"&l{k} [" + ",".join([f"*l{k-1}"] * 10) + "]" for k in range(1, 9)]
    ) + "]\n"
)


@pytest.mark.parametrize(
    "damaged, says",
    [
        (b"", "is empty"),
        (b"\xff\xfe\x00not utf-8", "not UTF-8"),
        (b"metadata: {version: 1\nsources: [\n", "not valid YAML"),
        (ALIAS_BOMB.encode(), "expands to more than"),
        (b"- just\n- a list\n", "no 'sources:' mapping"),
        # a whole view rewritten in block YAML, 3 MB of it: parsed, seconds
        (yaml.safe_dump({"metadata": {"version": 1}, "sources": {
            f"{i:032x}": {"driver": "persisted_parquet", "args": {"urlpath": "x" * 40},
                          "metadata": {"original_name": f"n{i}", "timestamp": 1.0, "pad": "p" * 80}}
            for i in range(12000)}}).encode(), "too big to parse inside a catalog access"),
    ],
    ids=["empty", "not-utf8", "invalid-yaml", "alias-bomb", "a-list", "huge-block-yaml"],
)
def test_a_damaged_view_is_kept_aside_and_rebuilt_from_the_heads(index, root, damaged, says):
    recs = put_all(index, [record(1), record(2)])
    (root / "cat.yaml").write_bytes(damaged)
    start = time.monotonic()
    with pytest.warns(PersistWarning, match="(?s)" + re.escape(says) + ".*rebuilt it"):
        assert fresh(root).get(tok(1)) == recs[tok(1)]
    assert time.monotonic() - start < 2
    (aside,) = [p for p in root.iterdir() if p.name.startswith("cat.yaml.damaged-")]
    assert aside.read_bytes() == damaged
    assert sorted(view_sources(root)) == sorted(recs) and is_canonical(root)
    assert listed(root) == sorted(recs)


# -- hand-written layouts ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        # flow style
        "metadata: {version: 1}\nsources: {%(t)s: %(entry)s}\n",
        # four-space indents, comments, quoted key
        "# mine\nmetadata:\n    version: 1\nsources:\n    # a comment\n    '%(t)s':\n%(block4)s",
        # a top-level key after sources
        "sources:\n  %(t)s:\n%(block4)sname: hand-made\n",
    ],
    ids=["flow", "indent4", "trailer"],
)
def test_hand_written_layouts_are_read_and_rewritten_canonically(root, text):
    root.mkdir()
    rec = record(7)
    entry = rec.to_entry()
    block4 = "".join("      " + line + "\n" for line in yaml.safe_dump(entry).splitlines())
    body = text % {"t": rec.token, "entry": yaml.safe_dump(entry, default_flow_style=True).strip(), "block4": block4}
    (root / "cat.yaml").write_text(body)
    idx = fresh(root)
    assert idx.get(rec.token) == rec
    assert is_canonical(root) and head_path(root, rec.token).exists()
    idx.put(record(8))
    assert sorted(view_sources(root)) == sorted([rec.token, tok(8)])
    assert view_sources(root)[rec.token] == entry
    assert listed(root) == sorted([rec.token, tok(8)])


def test_a_commit_keeps_hand_written_entries_it_never_looked_at(root):
    root.mkdir()
    recs = [record(1), record(2)]
    text = "metadata:\n    version: 1\nsources:\n"
    for r in recs:
        text += f"    {r.token}:\n" + "".join(
            "        " + line + "\n" for line in yaml.safe_dump(r.to_entry()).splitlines()
        )
    (root / "cat.yaml").write_text(text)
    idx = fresh(root)
    idx.put(record(3))  # no get() before
    assert listed(root) == [tok(1), tok(2), tok(3)]
    assert sorted(view_sources(root)) == [tok(1), tok(2), tok(3)] and is_canonical(root)
    assert fresh(root).get(tok(2)) == recs[1]


@pytest.mark.parametrize("indent", [2, 4])
def test_a_multi_line_string_that_looks_like_keys_is_read_right(root, indent):
    """Continuation lines of a quoted string can sit at the key indent and end in ':'."""
    root.mkdir()
    rec, other = record(1), record(2)
    pad = " " * indent
    entry = yaml.safe_dump(rec.to_entry(), width=1 << 30).replace(
        "description: ''", f"description: 'Notes:\n{pad}do not expire:\n{pad}{pad}keep forever'"
    )
    assert "Notes:" in entry
    body = "".join(pad * 2 + line + "\n" for line in entry.splitlines())
    other_body = "".join(pad * 2 + line + "\n" for line in yaml.safe_dump(other.to_entry()).splitlines())
    text = f"metadata:\n{pad}version: 1\nsources:\n{pad}{rec.token}:\n{body}{pad}{other.token}:\n{other_body}"
    expected = yaml.safe_load(text)["sources"][rec.token]["description"]
    assert "do not expire" in expected
    (root / "cat.yaml").write_text(text)

    idx = fresh(root)
    assert sorted(idx.tokens()) == sorted([rec.token, other.token])
    assert idx.get(rec.token).description == expected
    idx.put(record(3))
    sources = view_sources(root)
    assert sorted(sources) == sorted([rec.token, other.token, tok(3)])
    assert sources[rec.token]["description"] == expected
    idx.delete(other.token)
    assert view_sources(root)[rec.token]["description"] == expected
    assert intake.open_catalog(str(root / "cat.yaml"))[rec.token].description == expected


def test_unreadable_entries_are_skipped_not_fatal(index, root):
    index.put(record(1))
    with open(root / "cat.yaml", "a") as f:  # the store's layout no longer: parsed whole
        f.write("  " + "a" * 32 + ":\n    driver: 3\n")
        f.write("  not-a-token:\n    driver: persisted_parquet\n")
    idx = fresh(root)
    assert idx.get("a" * 32) is None
    assert idx.get("not-a-token") is None
    assert idx.get(tok(1)).original_name == "source1"
    assert idx.tokens() == [tok(1)]
    assert listed(root) == [tok(1)]


def test_one_broken_entry_does_not_hide_the_others(index, root):
    good, bad = put_all(index, [record(1), record(2)]).values()
    text = HEADER + "sources:\n" + dump_block(good.token, good.to_entry())
    text += f"  {bad.token}:\n    driver: 'unclosed\n    args: [\n"
    (root / "cat.yaml").write_text(text)
    with pytest.warns(PersistWarning, match="not valid YAML"):
        idx = fresh(root)
        assert idx.get(good.token) == good
    assert idx.get(bad.token) == bad  # its head is the truth
    assert sorted(view_sources(root)) == [good.token, bad.token]


def test_one_broken_line_does_not_hide_the_others(index, root):
    good, bad = put_all(index, [record(1), record(2)]).values()
    edit_line(root, bad.token, view_text_of(root).split(f"  {bad.token}: ")[1].split("\n")[0],
              "{\"driver\": 'unclosed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PersistWarning)
        idx = fresh(root)
        assert idx.get(good.token) == good
        assert idx.get(bad.token) == bad
    assert sorted(view_sources(root)) == [good.token, bad.token]


@pytest.mark.parametrize("timestamp", [253402300800, "nan", 1e30])
def test_an_impossible_timestamp_skips_that_entry_only(root, timestamp):
    root.mkdir()
    good = record(1)
    bad = dict(record(2).to_entry())
    bad["metadata"] = dict(bad["metadata"], timestamp=float(timestamp), persist_version=None)
    text = HEADER + "sources:\n" + dump_block(good.token, good.to_entry()) + dump_block(tok(2), bad)
    (root / "cat.yaml").write_text(text)
    idx = fresh(root)
    assert idx.get(tok(2)) is None
    assert idx.get(good.token) == good
    assert listed(root) == [good.token]


def test_an_alias_bomb_on_one_line_is_refused(index, root):
    put_all(index, [record(1), record(2)])
    levels = ["&l0 [" + ",".join(["1"] * 10) + "]"]
    levels += [f"&l{k} [" + ",".join([f"*l{k-1}"] * 10) + "]" for k in range(1, 5)]
    edit_line(root, tok(2), '"original_metadata": {"i": 2}',
              '"original_metadata": {"i": [' + ", ".join(levels) + "]}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PersistWarning)
        start = time.monotonic()
        assert fresh(root).get(tok(1)) is not None
        took = time.monotonic() - start
    assert head_path(root, tok(2)).stat().st_size < 10_000  # 10**5 values never land in the head
    assert took < 0.5


# -- heads ---------------------------------------------------------------------------------------
def cut_short(data: bytes) -> bytes:
    return data[:-7]


def one_byte_changed(data: bytes) -> bytes:
    n = data.index(b"source1")
    return data[:n] + b"S" + data[n + 1:]


def checksum_changed(data: bytes) -> bytes:
    first, rest = data.split(b"\n", 1)
    digit = b"0" if first[-1:] != b"0" else b"1"
    return first[:-1] + digit + b"\n" + rest


DAMAGES = [cut_short, one_byte_changed, checksum_changed]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__)
def test_a_damaged_head_is_rebuilt_from_its_newest_version(index, root, damage):
    recs = put_all(index, [record(1), record(2)])
    head = head_path(root, tok(1))
    damaged = damage(head.read_bytes())
    head.write_bytes(damaged)
    rebuilt = record(1, ttl=42)  # what the source's newest record.yaml says
    idx = fresh(root, rebuild=lambda t: rebuilt if t == tok(1) else None)
    with pytest.warns(PersistWarning, match=re.escape(str(head)) + ".*checksum.*rebuilt it from version "
                      + re.escape(rebuilt.version)):
        assert idx.get(tok(1)) == rebuilt
    (aside,) = [p for p in head.parent.iterdir() if p.name.startswith(tok(1) + ".damaged-")]
    assert aside.read_bytes() == damaged
    with warnings.catch_warnings():
        warnings.simplefilter("error", PersistWarning)
        assert fresh(root).get(tok(1)) == rebuilt  # the head is whole again
        assert fresh(root).get(tok(2)) == recs[tok(2)]
    cat = intake.open_catalog(str(root / "cat.yaml"))
    assert sorted(cat) == [tok(1), tok(2)] and cat[tok(1)].metadata["ttl"] == 42
    assert view_sources(root)[tok(1)]["metadata"]["ttl"] == 42


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__)
def test_a_damaged_head_without_a_version_gives_none_with_a_warning(index, root, damage):
    recs = put_all(index, [record(1), record(2)])
    head = head_path(root, tok(1))
    head.write_bytes(damage(head.read_bytes()))
    idx = fresh(root)
    with pytest.warns(PersistWarning, match=re.escape(str(head)) + ".*checksum.*dropped"):
        assert idx.get(tok(1)) is None
    assert idx.get(tok(1)) is None and fresh(root).get(tok(1)) is None
    assert idx.get(tok(2)) == recs[tok(2)]


def test_a_dropped_head_leaves_the_view(index, root):
    put_all(index, [record(1), record(2)])
    head = head_path(root, tok(1))
    head.write_bytes(cut_short(head.read_bytes()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PersistWarning)
        idx = fresh(root)
        assert idx.get(tok(1)) is None
        assert idx.tokens() == [tok(2)]
    assert listed(root) == [tok(2)]


def checksummed(body: bytes, generation: int = 5) -> bytes:
    return b"#persistplus-head 2 %d %s\n" % (generation, hashlib.sha256(body).hexdigest().encode()) + body


def entry_line(entry) -> bytes:
    return (json.dumps(entry) + "\n").encode()


GARBAGE = {
    "empty": b"",
    "binary": bytes(range(256)) * 3,
    "no-newline": b"#persistplus-head 2 5 abc",
    "bad-generation": b"#persistplus-head 2 five abc\n{}\n",
    "huge-generation": checksummed(b"[]\n", 10**40),
    "head-1": b"#persistplus-head 1 5 " + checksummed(b"{}\n")[-66:],
    "not-json": checksummed(b"{driver: [unclosed\n"),
    "not-utf8": checksummed(b'{"driver": "\xff\xfe"}\n'),
    "a-list": checksummed(b"[1, 2, 3]\n"),
    "null": checksummed(b"null\n"),
    "empty-entry": checksummed(b"{}\n"),
    "no-final-newline": checksummed(json.dumps(record(1).to_entry()).encode()),
    "two-lines": checksummed(entry_line(record(1).to_entry()) * 2),
    "another-sources-entry": checksummed(entry_line(record(9).to_entry())),
    "bad-timestamp": checksummed(entry_line(dict(record(1).to_entry(), metadata={"timestamp": "x"}))),
    "alias-bomb": checksummed(ALIAS_BOMB.split("metadata: ", 1)[1].encode()),
}


@pytest.mark.parametrize("garbage", list(GARBAGE.values()), ids=list(GARBAGE))
@pytest.mark.parametrize("with_version", [True, False], ids=["rebuilt", "no-version"])
def test_garbage_in_a_head_is_never_a_crash(index, root, garbage, with_version):
    recs = put_all(index, [record(1), record(2)])
    head_path(root, tok(1)).write_bytes(garbage)
    rebuilt = record(1, ttl=42)
    idx = fresh(root, rebuild=(lambda t: rebuilt) if with_version else None)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        start = time.monotonic()
        got = idx.get(tok(1))
        assert time.monotonic() - start < 2
    assert got == (rebuilt if with_version else None)
    (said,) = persist_warnings(seen)
    assert str(head_path(root, tok(1))) in said
    assert idx.get(tok(2)) == recs[tok(2)]
    assert tok(2) in idx.tokens()


@pytest.mark.parametrize("garbage", ["binary", "not-json", "a-list", "two-lines"])
def test_a_commit_replaces_a_damaged_head(index, root, garbage):
    put_all(index, [record(1), record(2)])
    head_path(root, tok(1)).write_bytes(GARBAGE[garbage])
    newer = record(1, ttl=9)
    index.put(newer)
    assert fresh(root).get(tok(1)) == newer
    head_path(root, tok(2)).write_bytes(GARBAGE[garbage])
    assert index.delete(tok(2)) is True
    assert tok(2) not in live_heads(root) and fresh(root).get(tok(2)) is None
    assert listed(root) == [tok(1)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=300)
    | st.binary(max_size=300).map(checksummed)
    | st.text(max_size=200).map(lambda s: checksummed(s.encode("utf-8") + b"\n"))
)
def test_any_bytes_in_a_head_are_never_a_crash(data):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        idx = fresh(root)
        idx.ensure()
        rec = record(1)
        idx.put(rec)
        head_path(root, rec.token).write_bytes(data)
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            assert fresh(root, rebuild=lambda t: rec).get(rec.token) == rec
            head_path(root, rec.token).write_bytes(data)
            assert fresh(root).get(rec.token) in (None, rec)


def test_a_damaged_head_is_rebuilt_through_the_store(csv_catalog, persist_dir):
    source = intake.open_catalog(str(csv_catalog)).csvsource
    source.persist()
    rec = store.record(source(persist_mode="never"))
    head = head_path(persist_dir, rec.token)
    head.write_bytes(cut_short(head.read_bytes()))
    with pytest.warns(PersistWarning, match=re.escape(str(head)) + ".*rebuilt it from version "
                      + re.escape(rec.version)):
        again = intake.open_catalog(str(csv_catalog)).csvsource
        assert again.is_persisted
    assert again.read().shape == (200, 4)
    assert store.record(rec.token) == rec
    assert list(intake.open_catalog(str(persist_dir / "cat.yaml"))) == [rec.token]


# -- format 1 (0.1.0) is upgraded; a newer format is refused ------------------------------------
@pytest.mark.parametrize("header", [HEADER_1, "metadata:\n  version: 1\n", ""],
                         ids=["format-1", "no-number", "no-metadata"])
def test_a_format_1_view_is_upgraded_in_place(root, header, no_persist_warning):
    root.mkdir()
    recs = [record(1), record(2, ttl=60), record(3)]
    text = header + "sources:\n" + "".join(dump_block(r.token, r.to_entry()) for r in recs)
    (root / "cat.yaml").write_text(text)
    assert not (root / ".heads").exists()

    idx = fresh(root)
    for r in recs:
        assert idx.get(r.token) == r
        assert head_entry(root, r.token) == r.to_entry()
    assert sorted(idx.tokens()) == sorted(r.token for r in recs)
    new = view_text_of(root)
    assert new.startswith(HEADER) and is_canonical(root)
    assert yaml.safe_load(new)["metadata"]["persistplus_index"] == 2
    assert listed(root) == sorted(r.token for r in recs)
    assert fresh(root).get(tok(2)).ttl == 60


def test_a_format_1_store_is_upgraded_through_intake(csv_catalog, persist_dir, no_persist_warning):
    source = intake.open_catalog(str(csv_catalog)).csvsource
    source.persist()
    rec = store.record(source(persist_mode="never"))
    # what 0.1.0 left: a block-style view, version folders, no heads or journal
    for name in (".heads", ".journal", ".names"):
        for p in (persist_dir / name).rglob("*"):
            if p.is_file():
                p.unlink()
    (persist_dir / ".cat.yaml.stamp").unlink()
    (persist_dir / "cat.yaml").write_text(HEADER_1 + "sources:\n" + dump_block(rec.token, rec.to_entry()))

    fresh_store = type(store)(str(persist_dir))
    assert fresh_store.record(rec.token) == rec
    assert list(fresh_store) == [rec.token]
    assert head_path(persist_dir, rec.token).exists()
    assert yaml.safe_load(view_text_of(persist_dir))["metadata"]["persistplus_index"] == 2
    assert intake.open_catalog(str(csv_catalog)).csvsource.is_persisted


def store_files(folder: Path) -> dict[str, bytes]:
    """Every file of the store but the lock files, with its content."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock") and ".locks" not in p.parts
    }


@pytest.mark.parametrize("fast", [True, False], ids=["canonical", "flow-style"])
def test_an_index_from_a_newer_format_is_refused_and_never_overwritten(csv_catalog, persist_dir, fast):
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()
    index = persist_dir / "cat.yaml"
    text = index.read_text().replace("persistplus_index: 2", "persistplus_index: 3")
    assert "persistplus_index: 3" in text
    if not fast:  # the whole-file parse checks the format too
        text = yaml.safe_dump(yaml.safe_load(text), default_flow_style=True)
    index.write_text(text)
    before = store_files(persist_dir)
    with pytest.raises(IndexFormatError, match="format 3.*upgrade intake-persistplus"):
        len(store)
    with pytest.warns(PersistWarning, match="newer intake-persistplus"):
        source = intake.open_catalog(str(csv_catalog)).csvsource
    assert not source.is_persisted and source.read().shape == (200, 4)
    with pytest.raises(IndexFormatError):
        source.persist()
    with pytest.raises(IndexFormatError):
        fresh(persist_dir).get(store.get_tok(source))
    assert index.read_text() == text  # never rebuilt over
    assert store_files(persist_dir) == before  # nor a head or a marker written


@pytest.mark.parametrize(
    "spelling",
    [
        "metadata:\n  version: 1\n  persistplus_index: 3  # written by 3.0\n",
        "metadata: {version: 1, persistplus_index: 3}\n",
        "metadata:\n    version: 1\n    persistplus_index: 3\n",
        "metadata:\n  persistplus_index: '3'\n",
        'metadata: {"persistplus_index": "3"}\n',
        "metadata:\n  persistplus_index:\n    3\n",
        "metadata:\r\n  persistplus_index: 3\r\n",
    ],
    ids=["comment", "flow", "indent-4", "quoted", "json", "next-line", "crlf"],
)
def test_every_spelling_of_a_newer_format_is_refused_before_anything_is_written(
    csv_catalog, persist_dir, spelling
):
    persist_dir.mkdir()
    text = spelling + "sources: {}\n"
    (persist_dir / "cat.yaml").write_bytes(text.encode())
    source = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
    with pytest.raises(IndexFormatError, match=f"{persist_dir}.*format 3"):
        source.persist()
    assert list(store_files(persist_dir)) == ["cat.yaml"]  # no version, head or marker written
    assert (persist_dir / "cat.yaml").read_bytes() == text.encode()
    with pytest.raises(IndexFormatError):
        len(store)
    with pytest.raises(IndexFormatError):
        fresh(persist_dir).get(tok(1))


@pytest.mark.parametrize("number, error", [("!!int 3", IndexFormatError), ("&n 3", IndexFormatError),
                                           ("!!int 2", None)], ids=["tag-3", "anchor-3", "tag-2"])
def test_a_tagged_format_number_is_read_as_yaml_reads_it(root, number, error):
    root.mkdir()
    rec = record(1)
    text = f"metadata:\n  persistplus_index: {number}\nsources:\n" + dump_block(rec.token, rec.to_entry())
    (root / "cat.yaml").write_text(text)
    if error is None:
        assert fresh(root).get(rec.token) == rec
    else:
        with pytest.raises(error):
            fresh(root).get(rec.token)
        assert view_text_of(root) == text


# -- one entry, one line ------------------------------------------------------------------------
ODD_CHARS = "\x00\x01\t\n\r\x0b\x0c\x1b\x7f\x80\x85\x9f\xa0\u2028\u2029\ufeff\ufffe\uffff\U0001f600\U0010ffff\"'\\:#{}[],&*!|>%@` -?"
texts = st.text(st.characters(exclude_categories=("Cs",)) | st.sampled_from(ODD_CHARS), max_size=12) | st.sampled_from(
    ["", "null", "~", "true", "yes", "no", "on", "1e3", "0x10", "1_000", "012", ".inf", "-.nan",
     "12:30", "2024-01-01", "<<", "=", "1.0", " a", "a ", "- a", "{{ CATALOG_DIR }}", "a: b", "#x"]
)
floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [1e20, -1e20, -0.0, 0.0, 5e-324, 1e-5, 1e-7, 1e15, 1e16, 2.0**53, 1.5e300, 0.1]
)
ints = st.integers() | st.integers(-(2**200), 2**200) | st.sampled_from([2**63, -(2**63) - 1, 10**30])
values = st.recursive(
    st.none() | st.booleans() | ints | floats | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)
entries = st.dictionaries(texts, values, max_size=5)


def same(a, b) -> bool:
    """Equal, and of the same types all the way down (1 is not 1.0 nor True; -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example({"description": "two\nlines", "metadata": {"tolerance": 1e-05}})
@given(entries)
def test_encode_entry_gives_one_line_json_and_yaml_read_back(entry):
    line = encode_entry(entry)
    assert not any(c in line for c in "\n\r\x85\u2028\u2029"), repr(line)  # YAML line breaks
    assert same(yaml.safe_load(line), entry), line
    assert same(decode_entry(line), entry), line
    try:
        as_json = json.loads(line)
    except ValueError:
        pass  # written as a YAML flow mapping
    else:
        assert same(as_json, entry), line
    view = view_text({"a" * 32: line})  # and inside the view, as intake reads it
    assert same(yaml.safe_load(view)["sources"]["a" * 32], entry)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.from_regex(r"[0-9a-f]{16,64}", fullmatch=True), entries, max_size=4))
def test_read_view_of_view_text_gives_back_the_lines(by_token):
    lines = {t: encode_entry(e) for t, e in by_token.items()}
    text = view_text(lines)
    assert read_view(text) == lines
    assert list(read_view(text)) == list(lines)
    doc = yaml.safe_load(text)  # what intake.open_catalog reads
    assert doc["metadata"]["persistplus_index"] == FORMAT
    assert same(doc["sources"] or {}, by_token)


def test_a_multi_line_description_with_a_small_float_can_be_persisted(tmp_path, persist_dir):
    data = tmp_path / "data2"
    data.mkdir()
    make_frame().to_csv(data / "table.csv", index=False)
    cat = write_catalog(data, {"csvsource": {
        "description": "a CSV table\nover two lines",
        "driver": "csv",
        "args": {"urlpath": "{{ CATALOG_DIR }}/table.csv"},
        "metadata": {"tolerance": 1e-5},
    }})
    intake.open_catalog(str(cat)).csvsource.persist()
    source = intake.open_catalog(str(cat)).csvsource
    assert source.is_persisted and source.read().shape == (200, 4)
    (entry,) = view_sources(persist_dir).values()
    assert entry["metadata"]["original_description"] == "a CSV table\nover two lines"


def test_a_removal_leaves_a_tombstone_that_gc_forgets_later(root):
    idx = fresh(root)
    put_all(idx, [record(1), record(2)])
    assert idx.delete(tok(1)) is True
    assert idx.removed_at(tok(1)) is not None or idx.get(tok(1)) is None
    assert fresh(root).get(tok(1)) is None and listed(root) == [tok(2)]
    assert idx.forget_removed(before=time.time() - 3600) == []  # too recent: kept
    assert idx.forget_removed(before=time.time() + 1) == [tok(1)]
    assert live_heads(root) == [tok(2)] and not head_path(root, tok(1)).exists()
    idx.put(record(1))  # and the source can come back
    assert fresh(root).get(tok(1)).original_name == "source1"
