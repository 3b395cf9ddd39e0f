"""A copy knows what it was made from: editing a catalog entry's description,
``persist:`` block or ``persist_mode`` changes its token, not its data, and the
copy keeps being served (moved to the new token), with no read of the original.

Each test persists through ``intake.open_catalog`` on real files, then edits
the catalog file as a user would, and changes the original CSV behind the
store's back: a copy served after the edit shows the old rows, a re-read
would show the new ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import intake
import pytest
import yaml

import intake_persistplus.index.core as core
from intake_persistplus import store
from intake_persistplus.index import Index

from .conftest import make_frame


def edit(catalog, change) -> None:
    doc = yaml.safe_load(catalog.read_text())
    change(doc["sources"]["csvsource"])
    catalog.write_text(yaml.safe_dump(doc, sort_keys=False))


def behind_the_stores_back(catalog) -> None:
    """Change the original's data: only a re-read would see it."""
    make_frame(50, seed=9).to_csv(catalog.parent / "table.csv", index=False)


def fresh_access(catalog):
    return intake.open_catalog(str(catalog)).csvsource


EDITS = {
    "description": lambda e: e.update(description="a CSV table, described better"),
    "persist-block": lambda e: e["metadata"].update(persist={"ttl": 7200, "keep": 3}),
    "persist-mode": lambda e: e["metadata"].update(persist_mode="always"),
    "other-metadata": lambda e: e["metadata"].update(owner="data team", origin="elsewhere"),
}


@pytest.mark.parametrize("what", list(EDITS))
def test_an_edit_that_leaves_the_data_alone_keeps_the_copy(csv_catalog, persist_dir, what, caplog):
    source = fresh_access(csv_catalog)
    source.persist(ttl=3600)
    old_token = store.get_tok(source)
    edit(csv_catalog, EDITS[what])
    behind_the_stores_back(csv_catalog)

    caplog.set_level("INFO", logger="intake_persistplus.rekey")
    served = fresh_access(csv_catalog)
    assert served.is_persisted
    assert served.read().shape == (200, 4)  # the copy, not a re-read (which has 50 rows)
    new_token = store.get_tok(fresh_access(csv_catalog)(persist_mode="never"))
    assert new_token != old_token
    assert list(store) == [new_token] and not (persist_dir / old_token).exists()
    rec = store.record(new_token)
    assert rec.rekeys == 1 and rec.original_description == served.metadata["original_description"]
    if what == "persist-block":  # the new settings apply to the entry
        assert (rec.ttl, rec.keep) == (7200, 3)
    else:
        assert rec.ttl == 3600
    assert any(f"from {old_token} to {new_token}" in r.getMessage() for r in caplog.records)
    assert len(store.versions(new_token)) == 1
    assert fresh_access(csv_catalog).read().shape == (200, 4)  # and again, from the new token


def test_the_listing_counts_moved_entries(csv_catalog, persist_dir):
    fresh_access(csv_catalog).persist()
    edit(csv_catalog, EDITS["description"])
    assert fresh_access(csv_catalog).is_persisted
    env = dict(os.environ, INTAKE_PERSIST_PATH=str(persist_dir))
    proc = subprocess.run([sys.executable, "-m", "intake_persistplus", "list", "--json"],
                          capture_output=True, text=True, env=env, timeout=120, check=True)
    (row,) = json.loads(proc.stdout)
    assert row["rekeyed"] == 1 and row["name"] == "csvsource"
    proc = subprocess.run([sys.executable, "-m", "intake_persistplus", "list"],
                          capture_output=True, text=True, env=env, timeout=120, check=True)
    assert "1 entry has moved to a new token" in proc.stderr


def test_every_version_moves_and_retention_goes_on(csv_catalog, persist_dir):
    source = fresh_access(csv_catalog)
    source.persist(keep=5)
    store.refresh(source(persist_mode="never"))
    store.refresh(source(persist_mode="never"))
    old = store.get_tok(source(persist_mode="never"))
    before = [v.version for v in store.versions(old)]
    edit(csv_catalog, EDITS["description"])
    moved = fresh_access(csv_catalog)
    assert moved.is_persisted
    token = store.get_tok(moved)
    assert [v.version for v in store.versions(token)] == before
    for v in store.versions(token):  # every moved version reads
        assert store.open_version(token, v.version).read().shape == (200, 4)
    assert store.prune(token, keep=1) and [v.version for v in store.versions(token)] == before[-1:]
    assert fresh_access(csv_catalog).read().shape == (200, 4)


@pytest.mark.parametrize("change", ["path", "argument"])
def test_an_edit_that_changes_the_data_is_a_new_source(csv_catalog, persist_dir, change):
    fresh_access(csv_catalog).persist()
    old = list(store)
    other = csv_catalog.parent / "other.csv"
    make_frame(30, seed=3).to_csv(other, index=False)
    if change == "path":
        edit(csv_catalog, lambda e: e["args"].update(urlpath="{{ CATALOG_DIR }}/other.csv"))
    else:
        edit(csv_catalog, lambda e: e["args"].update(usecols=["id"]))
    source = fresh_access(csv_catalog)
    assert not source.is_persisted and list(store) == old  # nothing moved
    assert source.read().shape == ((30, 4) if change == "path" else (200, 1))


def test_entries_with_other_parameters_are_not_taken(tmp_path, persist_dir):
    data = tmp_path / "data"
    data.mkdir()
    for region in ("north", "south"):
        make_frame(20 if region == "north" else 40).to_csv(data / f"{region}.csv", index=False)
    catalog = data / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({"sources": {"byregion": {
        "driver": "csv", "description": "one region",
        "parameters": {"region": {"type": "str", "default": "north", "description": "r"}},
        "args": {"urlpath": "{{ CATALOG_DIR }}/{{ region }}.csv"},
    }}}))
    intake.open_catalog(str(catalog)).byregion(region="north").persist()
    south = intake.open_catalog(str(catalog)).byregion(region="south")
    assert not south.is_persisted and south.read().shape[0] == 40


def test_a_move_cut_short_loses_nothing(csv_catalog, persist_dir, monkeypatch):
    """The new head is never written (the process dies at that moment): the old
    entry still serves, the copied folder is a leftover, and the next access
    moves the copy."""
    fresh_access(csv_catalog).persist()
    (old,) = list(store)
    edit(csv_catalog, EDITS["description"])
    behind_the_stores_back(csv_catalog)
    real_put = Index.put

    def dies(self, record, *args, **kwargs):
        raise KeyboardInterrupt("killed while moving")

    monkeypatch.setattr(Index, "put", dies)
    with pytest.raises(KeyboardInterrupt):
        fresh_access(csv_catalog)
    monkeypatch.setattr(Index, "put", real_put)
    assert list(store) == [old] and store[old].read().shape == (200, 4)
    served = fresh_access(csv_catalog)
    assert served.is_persisted and served.read().shape == (200, 4)
    assert list(store) != [old] and len(store) == 1


def test_a_big_store_moves_a_copy_without_reading_the_others(csv_catalog, persist_dir, monkeypatch):
    monkeypatch.setattr(core, "SMALL_VIEW", 0)  # commits leave the view alone, as at 100,000 entries
    fresh_access(csv_catalog).persist()
    edit(csv_catalog, EDITS["persist-block"])
    view = (persist_dir / "cat.yaml").read_text()
    assert fresh_access(csv_catalog).is_persisted
    assert (persist_dir / "cat.yaml").read_text() == view  # one head written, the view untouched


def test_on_s3(csv_catalog, s3_store):
    fresh_access(csv_catalog).persist()
    (old,) = list(store)
    edit(csv_catalog, EDITS["persist-block"])
    behind_the_stores_back(csv_catalog)
    served = fresh_access(csv_catalog)
    assert served.is_persisted and served.read().shape == (200, 4)
    (new,) = list(store)
    assert new != old and store.record(new).ttl == 7200


# -- where a copy came from: orphaned entries ---------------------------------------------
def cli(persist_dir, *args, check=True):
    env = dict(os.environ, INTAKE_PERSIST_PATH=str(persist_dir))
    return subprocess.run([sys.executable, "-m", "intake_persistplus", *args], capture_output=True,
                          text=True, env=env, timeout=120, check=check)


@pytest.fixture
def two_catalogs(csv_catalog, tmp_path, persist_dir):
    """csvsource from csv_catalog, and 'other' from a second catalog file; both persisted."""
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    make_frame(20).to_csv(other_dir / "o.csv", index=False)
    other = other_dir / "other.yaml"
    other.write_text(yaml.safe_dump({"sources": {"other": {
        "driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}/o.csv"}}}}))
    fresh_access(csv_catalog).persist()
    intake.open_catalog(str(other)).other.persist()
    return csv_catalog, other


def orphan_flags(persist_dir) -> dict:
    return {d["name"]: d["orphaned"] for d in json.loads(cli(persist_dir, "list", "--json").stdout)}


def test_each_copy_names_its_catalog_file_and_entry(two_catalogs, persist_dir):
    csv_catalog, other = two_catalogs
    rec = store.record(fresh_access(csv_catalog)(persist_mode="never"))
    assert (rec.catalog, rec.entry) == (str(csv_catalog), "csvsource")
    assert orphan_flags(persist_dir) == {"csvsource": False, "other": False}


@pytest.mark.parametrize("how", ["file-deleted", "entry-deleted"])
def test_an_orphaned_entry_is_listed_and_pruned_after_a_dry_run(two_catalogs, persist_dir, how):
    csv_catalog, other = two_catalogs
    if how == "file-deleted":
        other.unlink()
    else:
        other.write_text(yaml.safe_dump({"sources": {"renamed": {"driver": "csv", "args": {"urlpath": "x"}}}}))
    assert orphan_flags(persist_dir) == {"csvsource": False, "other": True}
    table = cli(persist_dir, "list").stdout
    assert [line.split()[-1] for line in table.splitlines()[1:]] == ["fresh", "orphaned"]
    dry = cli(persist_dir, "prune", "--orphans", "--dry-run").stdout
    assert "would remove 1 orphaned entry" in dry and str(other) in dry
    assert len(store) == 2
    out = cli(persist_dir, "prune", "--orphans").stdout
    assert "removed 1 orphaned entry" in out
    assert [store.record(t).original_name for t in store] == ["csvsource"]
    assert fresh_access(csv_catalog).is_persisted  # the other entry is untouched


def test_a_copy_made_in_code_or_from_a_url_is_never_orphaned(tmp_path, persist_dir):
    import intake.source.csv

    path = tmp_path / "a.csv"
    make_frame(5).to_csv(path, index=False)
    intake.source.csv.CSVSource(str(path)).persist()
    assert list(orphan_flags(persist_dir).values()) == [None]
    assert "would remove 0 orphaned entries" in cli(persist_dir, "prune", "--orphans", "--dry-run").stdout


@pytest.mark.parametrize("catalog", ["http://127.0.0.1:9/catalog.yaml", "simplecache::/etc/hostname",
                                     "relative/catalog.yaml", "FIFO", "/dev/zero"])
def test_a_hostile_catalog_path_is_never_fetched_or_opened(csv_catalog, persist_dir, catalog, tmp_path):
    fresh_access(csv_catalog).persist()
    (token,) = list(store)
    if catalog == "FIFO":
        catalog = str(tmp_path / "pipe")
        os.mkfifo(catalog)
    view = persist_dir / "cat.yaml"  # a hand edit of the view, folded into the head
    text = view.read_text()
    old = json.dumps(str(csv_catalog))
    assert old in text
    view.write_text(text.replace(old, json.dumps(catalog)))
    assert store.record(token).catalog == catalog
    t0 = time.monotonic()
    assert orphan_flags(persist_dir) == {"csvsource": None}
    assert time.monotonic() - t0 < 30


# -- what a review found -----------------------------------------------------------------------
@pytest.mark.parametrize("where", ["data-folder", "version-folder"])
def test_a_link_planted_at_the_new_token_writes_nothing_outside(csv_catalog, persist_dir, tmp_path, where):
    """Someone who can write the store plants a link where the move will copy to."""
    fresh_access(csv_catalog).persist()
    (old,) = list(store)
    version = store.record(old).version
    edit(csv_catalog, EDITS["description"])
    with pytest.MonkeyPatch.context() as mp:  # the new token, without a catalog access moving it
        mp.setitem(intake.conf, "persist_mode", "never")
        new = store.get_tok(fresh_access(csv_catalog))
    assert new != old and list(store) == [old]
    outside = tmp_path / "outside"
    outside.mkdir()
    if where == "data-folder":
        (persist_dir / new / version).mkdir(parents=True)
        os.symlink(outside, persist_dir / new / version / "data")
    else:
        (persist_dir / new).mkdir()
        os.symlink(outside, persist_dir / new / version)
    served = fresh_access(csv_catalog)
    assert served.read().shape == (200, 4)
    assert list(outside.iterdir()) == []  # nothing written through the link
    if where == "data-folder":  # the leftover is replaced, and the copy moved
        assert served.is_persisted and list(store) == [new]
    else:  # refused: the old entry stays, whole
        assert not served.is_persisted and list(store) == [old]
        assert store[old].read().shape == (200, 4)


def test_two_catalogs_with_the_same_entry_keep_their_own_copies(csv_catalog, persist_dir, tmp_path):
    """Same name, same data, another catalog file: not an edit, so nothing moves
    (moving would send the copy back and forth between the two)."""
    fresh_access(csv_catalog).persist()
    (first,) = list(store)
    doc = yaml.safe_load(csv_catalog.read_text())
    doc["sources"]["csvsource"]["description"] = "the team's copy of the same table"
    twin = csv_catalog.parent / "twin.yaml"
    twin.write_text(yaml.safe_dump(doc))
    for _ in range(3):
        assert not intake.open_catalog(str(twin)).csvsource.is_persisted
        assert fresh_access(csv_catalog).is_persisted
    assert list(store) == [first] and store.record(first).rekeys == 0


def test_arguments_with_keys_of_mixed_types_persist(tmp_path, persist_dir):
    import intake.source.csv

    path = tmp_path / "a.csv"
    make_frame(5).to_csv(path, index=False)
    source = intake.source.csv.CSVSource(str(path), dtype={"id": "int64", 1: "str"})
    source.persist()
    assert store.record(source).identity is not None


def test_a_folder_original_changes_when_a_file_inside_it_does(tmp_path):
    from intake_parquet import ParquetSource

    from intake_persistplus.fingerprint import fingerprint

    folder = tmp_path / "dataset" / "part=1"
    folder.mkdir(parents=True)
    make_frame(10).to_parquet(folder / "a.parquet")
    source = ParquetSource(str(tmp_path / "dataset"))
    before = fingerprint(source)
    assert before is not None and fingerprint(source) == before
    make_frame(11).to_parquet(folder / "a.parquet")
    assert fingerprint(source) != before


def test_on_access_for_a_source_that_is_not_files_expires_by_its_ttl(persist_dir):
    from intake_persistplus import PersistWarning

    from .sources import DaskFrameSource

    with pytest.warns(PersistWarning, match="cannot be checked on access"):
        DaskFrameSource(n=10).persist(ttl=600, revalidate="on-access")
    rec = store.record(DaskFrameSource(n=10))
    assert (rec.revalidate, rec.ttl, rec.fingerprint) == (True, 600, None) and not rec.expired()


def test_a_catalog_opened_by_a_relative_path_is_recorded_in_full(csv_catalog, persist_dir, monkeypatch):
    """Found by a new-user check: `open_catalog("mycat.yaml")`, as the README writes it."""
    monkeypatch.chdir(csv_catalog.parent)
    intake.open_catalog(csv_catalog.name).csvsource.persist()
    (old,) = list(store)
    assert store.record(old).catalog == str(csv_catalog)
    edit(csv_catalog, EDITS["persist-block"])
    assert fresh_access(csv_catalog).is_persisted  # opened by its full path now: still moved
    assert len(store) == 1 and list(store) != [old]
    csv_catalog.unlink()
    assert orphan_flags(persist_dir) == {"csvsource": True}
