"""The index file: layout, incremental reads, appends, rewrites, hand-written forms."""

from __future__ import annotations

import os
import time

import intake
import pytest
import yaml

from intake_persistplus.index import HEADER, Index
from intake_persistplus.layout import location, new_version_id
from intake_persistplus.record import Record


def tok(i: int) -> str:
    return f"ab{i:030x}"


def record(i: int, ttl=None) -> Record:
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
    )


@pytest.fixture
def index(tmp_path) -> Index:
    idx = Index(location(str(tmp_path)))
    idx.ensure()
    return idx


def test_empty_index_is_a_valid_catalog(index, tmp_path):
    cat = intake.open_catalog(str(tmp_path / "cat.yaml"))
    assert list(cat) == [] and len(index) == 0


def test_new_entries_are_appended_in_place(index):
    index.put(record(1))  # first entry: the empty "sources: {}" is rewritten
    inode = os.stat(index.path).st_ino
    size = os.path.getsize(index.path)
    index.put(record(2))
    assert os.stat(index.path).st_ino == inode  # same file: appended
    assert os.path.getsize(index.path) > size
    text = open(index.path).read()
    assert text.startswith(HEADER)
    assert set(yaml.safe_load(text)["sources"]) == {tok(1), tok(2)}


def test_replacing_and_removing_rewrite_atomically(index):
    for i in range(3):
        index.put(record(i))
    inode = os.stat(index.path).st_ino
    newer = record(1, ttl=5)
    index.put(newer)
    assert os.stat(index.path).st_ino != inode  # a new file renamed over the old
    assert index.get(newer.token).ttl == 5 and len(index) == 3
    assert index.delete(tok(0)) is True and index.delete(tok(0)) is False
    doc = yaml.safe_load(open(index.path))
    assert sorted(doc["sources"]) == [tok(1), tok(2)]
    assert not [n for n in os.listdir(os.path.dirname(index.path)) if n.endswith(".tmp")]


def test_another_process_appending_is_seen_incrementally(index, tmp_path):
    index.put(record(1))
    other = Index(location(str(tmp_path)))  # as if in another process
    assert other.tokens() == [tok(1)]
    index.put(record(2))
    index.put(record(3))
    assert other.tokens() == [tok(i) for i in (1, 2, 3)]
    assert other.get(tok(3)).original_name == "source3"
    index.put(record(2, ttl=9))  # rewrite
    assert other.get(tok(2)).ttl == 9


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
def test_hand_written_layouts_are_read(tmp_path, text):
    rec = record(7)
    entry = rec.to_entry()
    block4 = "".join("      " + line + "\n" for line in yaml.safe_dump(entry).splitlines())
    body = text % {"t": rec.token, "entry": yaml.safe_dump(entry, default_flow_style=True).strip(), "block4": block4}
    (tmp_path / "cat.yaml").write_text(body)
    idx = Index(location(str(tmp_path)))
    got = idx.get(rec.token)
    assert got is not None and got.original_name == "source7"
    # the next write turns it into the canonical layout, keeping the entry
    idx.put(record(8))
    assert sorted(yaml.safe_load((tmp_path / "cat.yaml").read_text())["sources"]) == sorted(
        [rec.token, tok(8)]
    )


def test_unreadable_entries_are_skipped_not_fatal(index, caplog):
    index.put(record(1))
    with open(index.path, "a") as f:
        f.write("  " + "a" * 32 + ":\n    driver: 3\n")
        f.write("  not-a-token:\n    driver: persisted_parquet\n")
    fresh = Index(index.loc)
    assert fresh.get("a" * 32) is None
    assert fresh.get("not-a-token") is None
    assert fresh.get(tok(1)).original_name == "source1"


def test_a_rewrite_keeps_hand_written_entries_it_never_looked_at(tmp_path):
    recs = [record(1), record(2)]
    text = "metadata:\n    version: 1\nsources:\n"
    for r in recs:
        text += f"    {r.token}:\n" + "".join("        " + line + "\n" for line in yaml.safe_dump(r.to_entry()).splitlines())
    (tmp_path / "cat.yaml").write_text(text)
    idx = Index(location(str(tmp_path)))
    idx.put(record(3))  # no get() before: entries are still unparsed text
    doc = yaml.safe_load((tmp_path / "cat.yaml").read_text())
    assert sorted(doc["sources"]) == sorted([tok(1), tok(2), tok(3)])
    assert Index(location(str(tmp_path))).get(tok(2)).original_name == "source2"


@pytest.mark.parametrize("indent", [2, 4])
def test_a_multi_line_string_that_looks_like_keys_is_read_right(tmp_path, indent):
    """Continuation lines of a quoted string can sit at the key indent and end in ':'."""
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
    (tmp_path / "cat.yaml").write_text(text)

    idx = Index(location(str(tmp_path)))
    assert sorted(idx.tokens()) == sorted([rec.token, other.token])
    got = idx.get(rec.token)
    assert got is not None and got.description == expected
    idx.put(record(3))  # a rewrite keeps both, the string intact
    doc = yaml.safe_load((tmp_path / "cat.yaml").read_text())
    assert sorted(doc["sources"]) == sorted([rec.token, other.token, tok(3)])
    assert doc["sources"][rec.token]["description"] == expected
    idx.delete(other.token)
    doc = yaml.safe_load((tmp_path / "cat.yaml").read_text())
    assert doc["sources"][rec.token]["description"] == expected


def test_a_rewrite_keeps_the_file_mode(index):
    index.put(record(1))
    os.chmod(index.path, 0o664)
    index.put(record(1, ttl=3))  # a replacement: rewritten by rename
    assert os.stat(index.path).st_mode & 0o777 == 0o664


def test_one_broken_entry_does_not_hide_the_others(tmp_path):
    good, bad = record(1), record(2)
    text = HEADER + "sources:\n"
    from intake_persistplus.index import dump_block

    text += dump_block(good.token, good.to_entry())
    text += f"  {bad.token}:\n    driver: 'unclosed\n    args: [\n"
    (tmp_path / "cat.yaml").write_text(text)
    idx = Index(location(str(tmp_path)))
    assert idx.get(good.token).original_name == "source1"
    assert idx.get(bad.token) is None  # skipped, logged; no exception
    assert idx.get(good.token).original_name == "source1"


@pytest.mark.parametrize("fast", [True, False], ids=["canonical", "flow-style"])
def test_an_index_from_a_newer_format_is_refused_and_never_overwritten(
    csv_catalog, persist_dir, fast
):
    from intake_persistplus import IndexFormatError, PersistWarning, store

    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()
    index = persist_dir / "cat.yaml"
    text = index.read_text().replace("persistplus_index: 1", "persistplus_index: 2")
    if not fast:  # the whole-file parse checks the format too
        doc = yaml.safe_load(text)
        text = yaml.safe_dump(doc, default_flow_style=True)
    index.write_text(text)
    with pytest.raises(IndexFormatError, match="format 2.*upgrade intake-persistplus"):
        len(store)
    with pytest.warns(PersistWarning, match="newer intake-persistplus"):
        source = intake.open_catalog(str(csv_catalog)).csvsource
    assert not source.is_persisted and source.read().shape == (200, 4)
    with pytest.raises(IndexFormatError):
        source.persist()
    assert index.read_text() == text  # never rebuilt over


@pytest.mark.parametrize("timestamp", [253402300800, "nan", 1e30])
def test_an_impossible_timestamp_skips_that_entry_only(tmp_path, timestamp):
    from intake_persistplus.index import dump_block

    good = record(1)
    bad = dict(record(2).to_entry())
    bad["metadata"] = dict(bad["metadata"], timestamp=float(timestamp), persist_version=None)
    text = HEADER + "sources:\n" + dump_block(good.token, good.to_entry()) + dump_block(tok(2), bad)
    (tmp_path / "cat.yaml").write_text(text)
    idx = Index(location(str(tmp_path)))
    assert idx.get(tok(2)) is None
    assert idx.get(good.token).original_name == good.original_name


@pytest.mark.parametrize(
    "spelling",
    [
        "metadata:\n  version: 1\n  persistplus_index: 2  # written by 3.0\n",
        "metadata: {version: 1, persistplus_index: 2}\n",
        "metadata:\n    version: 1\n    persistplus_index: 2\n",
        "metadata:\n  persistplus_index: '2'\n",
    ],
    ids=["comment", "flow", "indent-4", "quoted"],
)
def test_every_spelling_of_a_newer_format_is_refused_before_anything_is_written(
    csv_catalog, persist_dir, spelling
):
    from intake_persistplus import IndexFormatError, store

    persist_dir.mkdir()
    text = spelling + "sources: {}\n"
    (persist_dir / "cat.yaml").write_text(text)
    source = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
    with pytest.raises(IndexFormatError, match=f"{persist_dir}.*format 2"):
        source.persist()
    assert sorted(p.name for p in persist_dir.iterdir()) == ["cat.yaml"]  # no version written
    assert (persist_dir / "cat.yaml").read_text() == text
    with pytest.raises(IndexFormatError):
        len(store)
