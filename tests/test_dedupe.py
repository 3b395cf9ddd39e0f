"""Identical data is stored once: a refresh that writes the bytes of the version
it replaces keeps hard links to that version's files instead of a second copy
(local disks), and retention or removal never takes data a kept version still
uses. Through ``intake.open_catalog`` on real CSV files.
"""

from __future__ import annotations

import os
from pathlib import Path

import intake
import pandas as pd
import pytest

from intake_persistplus import store
from intake_persistplus.persist_store import PersistStore

from .conftest import make_frame


def original(catalog):
    return intake.open_catalog(str(catalog)).csvsource(persist_mode="never")


def data_files(root: Path, token: str) -> dict[str, list[os.stat_result]]:
    """Each version's data files' stat results, by version."""
    out = {}
    for version in sorted(os.listdir(root / token)):
        folder = root / token / version / "data"
        if folder.is_dir():
            out[version] = [os.stat(folder / f) for f in sorted(os.listdir(folder))]
    return out


def inodes(files: list[os.stat_result]) -> list[int]:
    return [st.st_ino for st in files]


def disk_bytes(root: Path) -> int:
    """Bytes of the store's files, each once however many links it has (as the disk holds them)."""
    seen, total = set(), 0
    for folder, _, names in os.walk(root):
        for name in names:
            st = os.lstat(os.path.join(folder, name))
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
    return total


def test_ten_refreshes_of_unchanged_data_take_the_disk_of_one(csv_catalog, persist_dir):
    """Load: 1 persist, 10 refreshes, every version kept (no keep): one copy on
    disk (50,000 rows: the records and index add well under 5 %)."""
    make_frame(50_000).to_csv(csv_catalog.parent / "table.csv", index=False)
    src = original(csv_catalog)
    src.persist()
    token = store.get_tok(src)
    once, du_once = disk_bytes(persist_dir), store.du(token)["total"]
    for _ in range(10):
        store.refresh(token)
    versions = store.versions(token)
    assert len(versions) == 11
    assert len({v.record.content for v in versions}) == 1 and versions[0].record.content is not None
    files = data_files(persist_dir, token)
    assert len(files) == 11 and len({tuple(inodes(f)) for f in files.values()}) == 1  # one set of files
    assert disk_bytes(persist_dir) <= 1.05 * once
    assert store.du(token)["total"] <= 1.05 * du_once  # du counts shared data once
    expected = src.read()
    for v in versions:  # every version reads back the same data
        pd.testing.assert_frame_equal(store.open_version(token, v.version).read(), expected)
    cat = intake.open_catalog(str(csv_catalog))
    assert cat.csvsource.is_persisted
    pd.testing.assert_frame_equal(cat.csvsource.read(), expected, check_exact=True)


def test_pruning_the_older_versions_keeps_the_newer_readable(csv_catalog, persist_dir):
    src = original(csv_catalog)
    src.persist()
    token = store.get_tok(src)
    for _ in range(3):
        store.refresh(token)
    files = data_files(persist_dir, token)
    assert len({tuple(inodes(f)) for f in files.values()}) == 1  # the 4 versions share their files
    newest = store.versions(token)[-1].version
    removed = store.prune(token, keep=1)
    assert len(removed) == 3 and [v.version for v in store.versions(token)] == [newest]
    assert sorted(data_files(persist_dir, token)) == [newest]
    cat = intake.open_catalog(str(csv_catalog))
    assert cat.csvsource.is_persisted
    pd.testing.assert_frame_equal(cat.csvsource.read(), src.read(), check_exact=True)
    # and with keep set on the entry, retention after each refresh does the same
    store.refresh(token)
    store.prune(token, keep=1)
    assert len(store.versions(token)) == 1
    pd.testing.assert_frame_equal(cat.csvsource.read(), src.read(), check_exact=True)


def test_removing_the_first_version_by_hand_leaves_the_others_whole(csv_catalog, persist_dir):
    """The files are shared by links: a version folder deleted (by retention, by
    hand) takes nothing from the versions that share its data."""
    src = original(csv_catalog)
    src.persist()
    token = store.get_tok(src)
    first = store.record(token).version
    store.refresh(token)
    second = store.record(token).version
    files = data_files(persist_dir, token)
    assert inodes(files[first]) == inodes(files[second])  # shared, not copied
    import shutil

    shutil.rmtree(persist_dir / token / first)
    pd.testing.assert_frame_equal(intake.open_catalog(str(csv_catalog)).csvsource.read(), src.read())


def test_changed_data_is_a_copy_of_its_own(csv_catalog, persist_dir):
    src = original(csv_catalog)
    src.persist()
    token = store.get_tok(src)
    make_frame(300, seed=3).to_csv(csv_catalog.parent / "table.csv", index=False)
    store.refresh(token)
    first, second = store.versions(token)
    assert first.record.content != second.record.content
    files = data_files(persist_dir, token)
    assert inodes(files[first.version]) != inodes(files[second.version])
    assert intake.open_catalog(str(csv_catalog)).csvsource.read().shape == (300, 4)
    # the same data again after a change: shared with the version it replaces only
    store.refresh(token)
    third = store.versions(token)[-1]
    assert third.record.content == second.record.content
    assert inodes(data_files(persist_dir, token)[third.version]) == inodes(files[second.version])


def test_an_expired_copy_refreshed_without_revalidation_shares_its_data(csv_catalog, persist_dir):
    """``revalidate: false`` re-reads an expired original; unchanged, the data is shared."""
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist(ttl=0.5, revalidate=False)
    import time

    time.sleep(0.6)
    assert cat.csvsource.read().shape == (200, 4)  # expired: re-persisted
    token = store.get_tok(original(csv_catalog))
    files = data_files(persist_dir, token)
    assert len(files) == 2 and len({tuple(inodes(f)) for f in files.values()}) == 1


def test_python_data_is_shared_too(persist_dir):
    from intake.source.base import DataSource, Schema

    class Numbers(DataSource):
        container = "python"
        name = "numbers_for_dedupe"
        version = "1"
        partition_access = False

        def _get_schema(self):
            return Schema(dtype=None, shape=None, npartitions=1, extra_metadata={})

        def read(self):
            return {"n": list(range(100))}

    src = Numbers()
    src.persist()
    token = store.get_tok(src)
    store.refresh(token, original=src)
    files = data_files(persist_dir, token)
    assert len(files) == 2 and len({tuple(inodes(f)) for f in files.values()}) == 1
    assert store[token].read() == {"n": list(range(100))}


@pytest.mark.parametrize("attack", ["byte-flipped", "file-grown", "file-renamed", "file-added"])
def test_old_files_changed_by_hand_are_never_shared(csv_catalog, persist_dir, attack):
    """The original is unchanged, so the new version's content hash is the old
    one's; but the old version's files were changed in place. They are checked
    (read and hashed) before being shared: the new version keeps its own files,
    and reads back the true data."""
    src = original(csv_catalog)
    src.persist()
    token = store.get_tok(src)
    first = store.record(token)
    folder = persist_dir / token / first.version / "data"
    (part,) = sorted(folder.iterdir())
    if attack == "byte-flipped":  # same name, same size, other bytes
        data = bytearray(part.read_bytes())
        data[len(data) // 2] ^= 0xFF
        part.write_bytes(bytes(data))
    elif attack == "file-grown":
        with open(part, "ab") as f:
            f.write(b"\0" * 10)
    elif attack == "file-renamed":
        part.rename(folder / "part.99999.parquet")
    elif attack == "file-added":
        (folder / "part.00001.parquet").write_bytes(part.read_bytes())
    old_inodes = sorted(p.stat().st_ino for p in folder.iterdir())
    store.refresh(token)
    new = store.versions(token)[-1]
    assert new.version != first.version and new.record.content == first.content
    assert sorted(inodes(data_files(persist_dir, token)[new.version])) != old_inodes
    assert not set(inodes(data_files(persist_dir, token)[new.version])) & set(old_inodes)
    cat = intake.open_catalog(str(csv_catalog))
    pd.testing.assert_frame_equal(cat.csvsource.read(), src.read(), check_exact=True)


def test_a_store_on_s3_keeps_each_version_whole(csv_catalog, s3_store):
    """Object stores have no hard links: each version keeps its own files, and
    records its content hash all the same."""
    src = original(csv_catalog)
    src.persist()
    token = store.get_tok(src)
    PersistStore().refresh(token)
    versions = store.versions(token)
    assert len(versions) == 2 and versions[0].record.content == versions[1].record.content is not None
    assert all(v.size and v.size > 1000 for v in versions)
    pd.testing.assert_frame_equal(intake.open_catalog(str(csv_catalog)).csvsource.read(), src.read())
