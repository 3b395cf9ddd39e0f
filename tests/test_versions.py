"""Every version kept, addressable by time and id; retention and disk usage."""

from __future__ import annotations

import datetime as dt
import time

import intake
import pytest

from intake_persistplus import NotPersistedError, store

from .conftest import make_frame, on_stores


def rewrite(csv_catalog, n):
    make_frame(n, seed=n).to_csv(csv_catalog.parent / "table.csv", index=False)


@on_stores(slow=("s3",))  # its S3 case takes over 1.5 s
def test_versions_are_kept_and_listed_newest_last(csv_catalog, store_location):
    cat = intake.open_catalog(str(csv_catalog))
    original = cat.csvsource(persist_mode="never")
    stamps = []
    for n in (10, 20, 30):
        rewrite(csv_catalog, n)
        original.persist()
        stamps.append(store.record(original).timestamp)
    versions = store.versions(original)
    assert [v.timestamp for v in versions] == stamps
    assert [v.current for v in versions] == [False, False, True]
    assert all(v.size > 0 for v in versions)
    assert len({v.version for v in versions}) == 3
    assert len(store) == 1  # one index entry per source
    assert cat.csvsource.read().shape == (30, 4)  # redirect: the newest
    info = versions[0].to_dict()
    assert {"token", "version", "timestamp", "size"} <= set(info)


@on_stores(slow=("s3",))  # its S3 case takes over 1.5 s
def test_get_persisted_at_a_time_and_pinned_versions(csv_catalog, store_location):
    cat = intake.open_catalog(str(csv_catalog))
    original = cat.csvsource(persist_mode="never")
    rewrite(csv_catalog, 10)
    original.persist()
    first = store.record(original)
    time.sleep(0.05)
    middle = time.time()
    time.sleep(0.05)
    rewrite(csv_catalog, 20)
    original.persist()
    second = store.record(original)

    assert original.get_persisted().read().shape == (20, 4)
    assert original.get_persisted(at=middle).read().shape == (10, 4)
    assert original.get_persisted(at=dt.datetime.fromtimestamp(middle)).read().shape == (10, 4)
    assert original.get_persisted(at=time.time()).metadata["persist_version"] == second.version
    with pytest.raises(KeyError, match="no version"):
        original.get_persisted(at=first.timestamp - 3600)

    pinned = cat.csvsource(persist_version=first.version)
    assert pinned.read().shape == (10, 4) and pinned.is_persisted
    assert cat.csvsource.read().shape == (20, 4)
    with pytest.raises(NotPersistedError, match=first.version):
        cat.csvsource(persist_version="20000101T000000.000000Z-000000")


@on_stores(slow=("s3",))  # its S3 case takes over 1.5 s
def test_two_persists_in_the_same_second_do_not_collide(csv_catalog, store_location):
    original = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
    for _ in range(4):
        original.persist()
    assert len({v.version for v in store.versions(original)}) == 4


@on_stores(slow=("s3",))  # its S3 case takes over 1.5 s
def test_keep_bounds_the_versions(csv_catalog, store_location, monkeypatch):
    monkeypatch.setitem(intake.conf, "persist_prune_grace", 0)
    original = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
    for _ in range(4):
        original.persist(keep=2)
    versions = store.versions(original)
    assert len(versions) == 2 and versions[-1].current
    store.refresh(original)  # refresh remembers keep
    assert len(store.versions(original)) == 2

    monkeypatch.setitem(intake.conf, "persist_keep", 1)
    other = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
    store.remove(other)
    other.persist()
    other.persist()
    assert len(store.versions(other)) == 1


@pytest.mark.parametrize("keep", [0, -1, 1.5, "2", True])
def test_bad_keep_is_refused(csv_catalog, store_location, keep):
    original = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
    with pytest.raises(ValueError, match="keep"):
        original.persist(keep=keep)
    assert len(store) == 0


@on_stores(slow=("s3",))  # its S3 case takes over 1.5 s
def test_prune_dry_run_keep_and_older_than(csv_catalog, store_location):
    original = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
    for _ in range(4):
        original.persist()
    versions = store.versions(original)

    would = store.prune(original, keep=2, dry_run=True)
    assert [v.version for v in would] == [v.version for v in versions[:2]]
    assert len(store.versions(original)) == 4

    gone = store.prune(original, keep=3)
    assert [v.version for v in gone] == [versions[0].version]
    assert len(store.versions(original)) == 3

    store.prune(older_than=0)  # everything is older than now: all but the newest go
    left = store.versions(original)
    assert [v.version for v in left] == [versions[-1].version] and left[0].current
    assert store.prune(original, keep=1) == []  # the newest is never pruned


def test_du_reports_bytes_per_entry_and_total(csv_catalog, store_location):
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()
    usage = store.du()
    token = store.get_tok(cat.csvsource)
    assert set(usage["entries"]) == {token}
    assert usage["total"] == usage["entries"][token] > 0


def test_stores_without_versions_still_load(csv_catalog, store_location):
    """An index entry with no persist_version (an older layout) is served."""
    import yaml

    loc = store_location
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()
    doc = yaml.safe_load(loc.view())
    (token, entry), = doc["sources"].items()
    del entry["metadata"]["persist_version"]
    del entry["metadata"]["persist_keep"]
    loc.write_text(yaml.safe_dump(doc), "cat.yaml")
    from intake_persistplus import PersistStore

    fresh = PersistStore(loc.url)
    assert fresh.record(token).version.startswith("legacy-")
    assert fresh[token].read().shape == (200, 4)
    assert [v.current for v in fresh.versions(token)][-1] is True


@on_stores(slow=("s3",))  # its S3 case takes over 1.5 s
def test_keep_chosen_once_stays_in_force(csv_catalog, store_location, monkeypatch):
    monkeypatch.setitem(intake.conf, "persist_prune_grace", 0)
    original = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
    original.persist(keep=2)
    for _ in range(3):
        original.persist()
    assert len(store.versions(original)) == 2 and store.record(original).keep == 2


@on_stores(slow=("s3",))  # its S3 case takes over 1.5 s
def test_retention_grace_leaves_just_replaced_versions_for_their_readers(
    csv_catalog, store_location, monkeypatch
):
    monkeypatch.setitem(intake.conf, "persist_prune_grace", 30)
    cat = intake.open_catalog(str(csv_catalog))
    original = cat.csvsource(persist_mode="never")
    original.persist(keep=1)
    handed_out = cat.csvsource  # a reader holds this version...
    original.persist()  # ...when it is replaced
    assert handed_out.read().shape == (200, 4)  # still readable within the grace period
    assert len(store.versions(original)) == 2
    assert len(store.prune(original)) == 1  # an explicit prune has no grace


def test_get_persisted_at_accepts_iso_strings(csv_catalog, store_location):
    original = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
    original.persist()
    later = dt.datetime.fromtimestamp(time.time() + 60).isoformat()
    assert original.get_persisted(at=later).is_persisted
    with pytest.raises(KeyError, match="the first was written at"):
        original.get_persisted(at="2000-01-01")
    with pytest.raises(TypeError, match="ISO 8601"):
        original.get_persisted(at="yesterday")
