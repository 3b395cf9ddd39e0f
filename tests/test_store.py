"""PersistStore: the catalog-like API, the index file, and where the store lives."""

from __future__ import annotations

import dask.base
import intake
import pandas as pd
import pytest
import yaml
from intake.source.csv import CSVSource
from intake_parquet.source import ParquetSource

from intake_persistplus import NotPersistedError, PersistStore, store

from .conftest import (
    make_frame,
    on_stores,
    run_python,
    write_catalog,
)


@pytest.fixture
def three_sources(tmp_path):
    """A catalog of three CSV entries; the test chooses the store (store_location or persist_dir)."""
    sources = {}
    for i in range(3):
        make_frame(20 + i, seed=i).to_csv(tmp_path / f"t{i}.csv", index=False)
        sources[f"t{i}"] = {
            "driver": "csv",
            "description": f"table {i}",
            "args": {"urlpath": "{{ CATALOG_DIR }}/" + f"t{i}.csv"},
            "metadata": {"number": i},
        }
    return intake.open_catalog(str(write_catalog(tmp_path, sources)))


@on_stores(slow=("s3",))  # its S3 case takes over 1.5 s
def test_mapping_api(three_sources, store_location):
    cat = three_sources
    originals = [cat[n](persist_mode="never") for n in ("t0", "t1", "t2")]
    persisted = [s.persist() for s in originals]
    tokens = [dask.base.tokenize(s) for s in originals]

    assert sorted(store) == sorted(tokens) and len(store) == 3
    assert tokens[0] in store and originals[1] in store and persisted[2] in store
    assert "0" * 32 not in store and "not-a-token" not in store
    got = store[tokens[1]]
    assert isinstance(got, ParquetSource) and got.read().shape == (21, 4)
    assert dict(store.items()).keys() == set(tokens)
    with pytest.raises(KeyError, match="nothing is persisted"):
        store["0" * 32]
    with pytest.raises(NotPersistedError):
        store["0" * 32]


def test_get_tok_of_token_original_persisted_and_entry(three_sources, store_location):
    cat = three_sources
    original = cat.t0(persist_mode="never")
    persisted = original.persist()
    token = dask.base.tokenize(original)
    assert store.get_tok(token) == token
    assert store.get_tok(original) == token
    assert store.get_tok(persisted) == token
    assert store.get_tok(cat._entries["t0"]) == token
    with pytest.raises(ValueError, match="not a store token"):
        store.get_tok("../../etc")


def test_backtrack_recreates_the_original_with_its_token(three_sources, store_location):
    cat = three_sources
    original = cat.t1(persist_mode="never")
    persisted = original.persist()
    for x in (persisted, store.get_tok(original)):
        again = store.backtrack(x)
        assert type(again) is CSVSource
        assert again.name == "t1" and again.description == "table 1"
        assert again.metadata["number"] == 1
        assert dask.base.tokenize(again) == dask.base.tokenize(original)
        pd.testing.assert_frame_equal(again.read(), original.read())


def test_refresh_and_needs_refresh(three_sources, store_location):
    cat = three_sources
    original = cat.t0(persist_mode="never")
    assert store.needs_refresh(original)  # absent
    original.persist(ttl=None, compression="zstd")
    assert not store.needs_refresh(original)  # ttl None never expires
    first = store.record(original)

    new = store.refresh(original)

    second = store.record(original)
    assert isinstance(new, ParquetSource) and new.is_persisted
    assert second.version != first.version and second.timestamp >= first.timestamp
    assert second.persist_kwargs == {"compression": "zstd"} and second.ttl is None
    assert len(store) == 1  # re-persisting replaces
    original.persist(ttl=0)
    assert store.needs_refresh(original) and len(store) == 1


@on_stores(slow=("s3",))  # its S3 case takes over 1.5 s
def test_remove_and_clear_delete_the_data(three_sources, store_location):
    loc = store_location
    cat = three_sources
    originals = [cat[n](persist_mode="never") for n in ("t0", "t1", "t2")]
    for s in originals:
        s.persist()
    token0 = store.get_tok(originals[0])
    assert loc.isdir(token0)
    assert any(p.endswith(".parquet") for p in loc.find(token0))

    assert store.remove(originals[0]) is True
    assert token0 not in store and not loc.exists(token0)
    assert store.remove(token0) is False
    assert isinstance(cat.t0, CSVSource) and isinstance(cat.t1, ParquetSource)

    token1 = store.get_tok(originals[1])
    store.remove(token1, delfiles=False)
    assert token1 not in store and loc.isdir(token1)

    store.clear()
    assert len(store) == 0 and list(store) == []
    assert not any(p.endswith(".parquet") for p in loc.find())
    assert isinstance(cat.t2, CSVSource)
    assert cat.t2.read().shape == (22, 4)


@on_stores(slow=("s3",))  # its S3 case takes over 1.5 s
def test_index_opens_as_an_intake_catalog(three_sources, store_location):
    cat = three_sources
    for n in ("t0", "t1", "t2"):
        cat[n].persist()
    index = intake.open_catalog(store_location.url_of("cat.yaml"))
    assert sorted(index) == sorted(store)
    for token in index:
        pd.testing.assert_frame_equal(index[token].read(), store[token].read())
    assert set(index[list(index)[0]].metadata) >= {
        "original_tok", "original_name", "original_metadata", "original_source",
        "timestamp", "ttl", "persist_kwargs",
    }


# memory:// lives in one process: no next process sees it
@on_stores("local", "s3", slow=("s3",))
def test_hand_edited_ttl_takes_effect_in_the_next_process(three_sources, store_location, tmp_path):
    loc = store_location
    cat = three_sources
    cat.t0.persist(ttl=0)
    token = store.get_tok(cat.t0(persist_mode="never"))
    doc = yaml.safe_load(loc.view())
    doc["sources"][token]["metadata"]["ttl"] = None
    loc.write_text(yaml.safe_dump(doc), "cat.yaml")

    out = run_python(
        f"""
        import intake
        from intake_persistplus.redirect import Deferred
        cat = intake.open_catalog({str(tmp_path / "catalog.yaml")!r})
        s = cat.t0
        print(s.is_persisted, isinstance(s, Deferred), s.metadata["ttl"])
        """,
        env=loc.env,
    )
    assert out.stdout.split() == ["True", "False", "None"]


def test_the_index_is_data_not_code(three_sources, store_location, tmp_path):
    """A tampered index can neither import nor call anything."""
    loc = store_location
    cat = three_sources
    cat.t0.persist()
    token = store.get_tok(cat.t0(persist_mode="never"))
    marker = tmp_path / "pwned"
    doc = yaml.safe_load(loc.view())
    evil = dict(doc["sources"][token])
    evil["driver"] = "os.system"
    evil["args"] = {"command": f"touch {marker}"}
    evil["metadata"] = dict(evil["metadata"], original_tok="f" * 32)
    doc["sources"]["f" * 32] = evil
    doc["sources"][token]["metadata"]["original_source"]["cls"] = "subprocess.Popen"
    doc["sources"][token]["metadata"]["original_source"]["args"] = [["touch", str(marker)]]
    doc["sources"]["e" * 32] = {"cls": "os.system", "args": [f"touch {marker}"]}
    loc.write_text(yaml.safe_dump(doc), "cat.yaml")

    fresh = PersistStore(loc.url)
    with pytest.raises(ValueError, match="driver 'os.system'"):
        fresh["f" * 32]
    with pytest.raises(ValueError, match="not a driver registered"):
        fresh.backtrack(token)
    assert "e" * 32 not in fresh  # not an entry it can read: skipped
    assert isinstance(fresh[token], ParquetSource)  # the data itself is still served
    assert not marker.exists()


def test_a_yaml_python_tag_in_the_index_runs_nothing(three_sources, store_location, tmp_path):
    from intake_persistplus import PersistWarning

    loc = store_location
    cat = three_sources
    cat.t0.persist()
    marker = tmp_path / "pwned"
    text = loc.view()
    loc.write_text(text + f"evil: !!python/object/apply:os.system ['touch {marker}']\n", "cat.yaml")
    with pytest.warns(PersistWarning, match="(?s)not valid YAML.*rebuilt it"):
        source = cat.t0
    # the entries live in their heads: the copy is still served, the view is rebuilt
    assert isinstance(source, ParquetSource) and source.read().shape == (20, 4)
    with pytest.raises(KeyError, match="nothing is persisted"):
        PersistStore(loc.url).backtrack("a" * 32)
    assert "python/object" not in loc.read_text("cat.yaml")
    assert not marker.exists()


def test_persist_path_follows_conf_at_run_time(three_sources, store_location, monkeypatch):
    cat = three_sources
    first, second = store_location.sibling("one"), store_location.sibling("two")
    monkeypatch.setitem(intake.conf, "persist_path", first.url)
    cat.t0.persist()
    assert first.exists("cat.yaml") and len(store) == 1
    monkeypatch.setitem(intake.conf, "persist_path", second.url)
    assert len(store) == 0 and isinstance(cat.t0, CSVSource)
    cat.t0.persist()
    assert second.exists("cat.yaml") and len(store) == 1
    assert store.path == second.url
    monkeypatch.setitem(intake.conf, "persist_path", first.url)  # and back: nothing was lost
    assert len(store) == 1 and isinstance(cat.t0, ParquetSource)


# local only: the default location is a folder under intake's (local) config dir
def test_default_location_honours_intake_conf_dir(tmp_path, csv_catalog):
    conf_dir = tmp_path / "confdir"
    out = run_python(
        f"""
        import intake
        from intake.container.persist import store
        intake.open_catalog({str(csv_catalog)!r}).csvsource.persist()
        print(store.path)
        """,
        env={"INTAKE_CONF_DIR": str(conf_dir), "INTAKE_PERSIST_PATH": ""},
    )
    assert out.stdout.strip() == str(conf_dir / "persisted")
    assert (conf_dir / "persisted" / "cat.yaml").exists()


def test_corrupt_index_never_breaks_catalog_access(three_sources, store_location):
    from intake_persistplus import PersistWarning

    cat = three_sources
    cat.t0.persist()
    store_location.write_text("sources: [unclosed\n  - : :\n", "cat.yaml")
    with pytest.warns(PersistWarning, match="not valid YAML"):
        source = cat.t0
    assert isinstance(source, ParquetSource) and source.read().shape == (20, 4)
    assert isinstance(cat.t1, CSVSource) and cat.t1.read().shape == (21, 4)


@on_stores(slow=("s3",))  # its S3 case takes over 1.5 s
def test_persist_rebuilds_a_corrupt_index_from_the_data_on_disk(three_sources, store_location):
    from intake_persistplus import PersistWarning

    loc = store_location
    cat = three_sources
    cat.t0.persist()
    cat.t1.persist(ttl=50)
    token0, token1 = (store.get_tok(cat[n](persist_mode="never")) for n in ("t0", "t1"))
    loc.write_text("sources: [unclosed\n", "cat.yaml")
    with pytest.warns(PersistWarning, match=r"rebuilt it from the store's entries"):
        cat.t2(persist_mode="never").persist()
    assert len(store) == 3 and store.record(token1).ttl == 50  # nothing was dropped
    assert isinstance(cat.t0, ParquetSource) and cat.t0.read().shape == (20, 4)
    damaged = [name for name in loc.listdir() if ".damaged-" in name]
    assert len(damaged) == 1
    assert loc.read_text(damaged[0]) == "sources: [unclosed\n"
    assert token0 in intake.open_catalog(loc.url_of("cat.yaml"))


@on_stores(slow=("s3",))  # its S3 case takes over 1.5 s
def test_an_empty_index_file_is_damaged_not_an_empty_store(three_sources, store_location):
    from intake_persistplus import PersistWarning

    cat = three_sources
    cat.t0.persist()
    store_location.write_text("", "cat.yaml")
    with pytest.warns(PersistWarning, match="empty.*rebuilt"):
        assert isinstance(cat.t0, ParquetSource)
    cat.t1(persist_mode="never").persist()
    assert len(store) == 2 and isinstance(cat.t0, ParquetSource)
    assert len(intake.open_catalog(store_location.url_of("cat.yaml"))) == 2


def test_the_index_cannot_choose_storage_options_or_add_keys(three_sources, store_location):
    loc = store_location
    cat = three_sources
    cat.t0.persist()
    token = store.get_tok(cat.t0(persist_mode="never"))
    doc = yaml.safe_load(loc.view())
    doc["sources"][token]["args"]["storage_options"] = {"endpoint_url": "http://attacker.invalid"}
    doc["sources"]["not-a-token"] = {"driver": "csv", "args": {}}
    loc.write_text(yaml.safe_dump(doc), "cat.yaml")
    fresh = PersistStore(loc.url)
    assert len(fresh) == 1 and list(fresh) == [token]
    source = fresh[token]
    assert "storage_options" not in source._captured_init_kwargs or not source._storage_options
    assert source.read().shape == (20, 4)


def test_a_hand_edit_of_the_index_takes_effect_on_the_next_store_operation(three_sources, store_location):
    """What the index's own header promises, also for an edit that keeps its size."""
    loc = store_location
    cat = three_sources
    cat.t0.persist(ttl=0)
    token = store.get_tok(cat.t0(persist_mode="never"))
    assert store.record(token).ttl == 0 and store.needs_refresh(token)  # the store has read it
    text = loc.view()
    assert text.count('"ttl": 0,') == 1
    loc.write_text(text.replace('"ttl": 0,', '"ttl": 9,'), "cat.yaml")  # same size
    assert store.record(token).ttl == 9 and not store.needs_refresh(token)
    assert type(cat.t0).__name__ == "PersistedParquetSource"  # fresh now: no refresh pending


def test_discover_and_partitions_of_a_copy_wherever_the_store_is(three_sources, store_location):
    cat = three_sources
    cat.t1.persist()
    copy = cat.t1
    assert copy.is_persisted
    info = copy.discover()
    assert info["shape"] == (21, 4) and info["npartitions"] >= 1
    pd.testing.assert_frame_equal(
        copy.read_partition(0), cat.t1(persist_mode="never").to_dask().get_partition(0).compute()
    )


def test_a_warning_about_the_index_names_it_by_its_url(three_sources, store_location):
    from intake_persistplus import PersistWarning

    cat = three_sources
    cat.t0.persist()
    store_location.write_text("", "cat.yaml")
    with pytest.warns(PersistWarning, match="empty") as seen:
        assert isinstance(cat.t0, ParquetSource)
    messages = [str(w.message) for w in seen]
    assert any(store_location.url_of("cat.yaml") in m for m in messages), messages


def test_saving_an_out_of_date_copy_of_the_view_rolls_nothing_back(csv_catalog, persist_dir):
    """A copy of cat.yaml read before a persist, edited and saved after it, is told
    from an edit of the current view by the generation each line carries."""
    from intake_persistplus import PersistWarning

    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource(persist_mode="never").persist(ttl=60)
    old_text = (persist_dir / "cat.yaml").read_text()
    cat.csvsource(persist_mode="never").persist(ttl=60)  # a second version since
    token = store.get_tok(cat.csvsource(persist_mode="never"))
    current = store.record(token).version
    (persist_dir / "cat.yaml").write_text(old_text.replace('"ttl": 60', '"ttl": null'))
    with pytest.warns(PersistWarning, match="hand edit of .* is ignored"):
        assert store.record(token).version == current  # not rolled back
    assert store.record(token).ttl == 60
    text = (persist_dir / "cat.yaml").read_text().replace('"ttl": 60', '"ttl": null')
    (persist_dir / "cat.yaml").write_text(text)  # an edit of the current view applies
    assert store.record(token).ttl is None and store.record(token).version == current
