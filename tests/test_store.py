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

from .conftest import make_frame, run_python, write_catalog


@pytest.fixture
def three_sources(tmp_path, persist_dir):
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


def test_mapping_api(three_sources, persist_dir):
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


def test_get_tok_of_token_original_persisted_and_entry(three_sources, persist_dir):
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


def test_backtrack_recreates_the_original_with_its_token(three_sources, persist_dir):
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


def test_refresh_and_needs_refresh(three_sources, persist_dir):
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


def test_remove_and_clear_delete_the_data(three_sources, persist_dir):
    cat = three_sources
    originals = [cat[n](persist_mode="never") for n in ("t0", "t1", "t2")]
    for s in originals:
        s.persist()
    token0 = store.get_tok(originals[0])
    assert (persist_dir / token0).is_dir()

    assert store.remove(originals[0]) is True
    assert token0 not in store and not (persist_dir / token0).exists()
    assert store.remove(token0) is False
    assert isinstance(cat.t0, CSVSource) and isinstance(cat.t1, ParquetSource)

    token1 = store.get_tok(originals[1])
    store.remove(token1, delfiles=False)
    assert token1 not in store and (persist_dir / token1).is_dir()

    store.clear()
    assert len(store) == 0 and list(store) == []
    assert not any(p.name.endswith(".parquet") for p in persist_dir.rglob("*"))
    assert isinstance(cat.t2, CSVSource)
    assert cat.t2.read().shape == (22, 4)


def test_index_opens_as_an_intake_catalog(three_sources, persist_dir):
    cat = three_sources
    for n in ("t0", "t1", "t2"):
        cat[n].persist()
    index = intake.open_catalog(str(persist_dir / "cat.yaml"))
    assert sorted(index) == sorted(store)
    for token in index:
        pd.testing.assert_frame_equal(index[token].read(), store[token].read())
    assert set(index[list(index)[0]].metadata) >= {
        "original_tok", "original_name", "original_metadata", "original_source",
        "timestamp", "ttl", "persist_kwargs",
    }


def test_hand_edited_ttl_takes_effect_in_the_next_process(three_sources, persist_dir, tmp_path):
    cat = three_sources
    cat.t0.persist(ttl=0)
    token = store.get_tok(cat.t0(persist_mode="never"))
    index = persist_dir / "cat.yaml"
    doc = yaml.safe_load(index.read_text())
    doc["sources"][token]["metadata"]["ttl"] = None
    index.write_text(yaml.safe_dump(doc))

    out = run_python(
        f"""
        import intake
        from intake_persistplus.redirect import Deferred
        cat = intake.open_catalog({str(tmp_path / "catalog.yaml")!r})
        s = cat.t0
        print(s.is_persisted, isinstance(s, Deferred), s.metadata["ttl"])
        """,
        env={"INTAKE_PERSIST_PATH": str(persist_dir)},
    )
    assert out.stdout.split() == ["True", "False", "None"]


def test_the_index_is_data_not_code(three_sources, persist_dir, tmp_path):
    """A tampered index can neither import nor call anything."""
    cat = three_sources
    cat.t0.persist()
    token = store.get_tok(cat.t0(persist_mode="never"))
    marker = tmp_path / "pwned"
    index = persist_dir / "cat.yaml"
    doc = yaml.safe_load(index.read_text())
    evil = dict(doc["sources"][token])
    evil["driver"] = "os.system"
    evil["args"] = {"command": f"touch {marker}"}
    evil["metadata"] = dict(evil["metadata"], original_tok="f" * 32)
    doc["sources"]["f" * 32] = evil
    doc["sources"][token]["metadata"]["original_source"]["cls"] = "subprocess.Popen"
    doc["sources"][token]["metadata"]["original_source"]["args"] = [["touch", str(marker)]]
    doc["sources"]["e" * 32] = {"cls": "os.system", "args": [f"touch {marker}"]}
    index.write_text(yaml.safe_dump(doc))

    fresh = PersistStore(str(persist_dir))
    with pytest.raises(ValueError, match="driver 'os.system'"):
        fresh["f" * 32]
    with pytest.raises(ValueError, match="not a driver registered"):
        fresh.backtrack(token)
    assert "e" * 32 not in fresh  # not an entry it can read: skipped
    assert isinstance(fresh[token], ParquetSource)  # the data itself is still served
    assert not marker.exists()


def test_a_yaml_python_tag_in_the_index_runs_nothing(three_sources, persist_dir, tmp_path):
    from intake_persistplus import PersistWarning

    cat = three_sources
    cat.t0.persist()
    marker = tmp_path / "pwned"
    index = persist_dir / "cat.yaml"
    index.write_text(index.read_text() + f"evil: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.warns(PersistWarning, match="not valid YAML"):
        source = cat.t0
    assert isinstance(source, CSVSource)
    with pytest.raises(OSError, match="not valid YAML"):
        PersistStore(str(persist_dir)).backtrack("a" * 32)
    assert not marker.exists()


def test_persist_path_follows_conf_at_run_time(three_sources, tmp_path, monkeypatch):
    cat = three_sources
    first, second = tmp_path / "one", tmp_path / "two"
    monkeypatch.setitem(intake.conf, "persist_path", str(first))
    cat.t0.persist()
    assert (first / "cat.yaml").exists() and len(store) == 1
    monkeypatch.setitem(intake.conf, "persist_path", str(second))
    assert len(store) == 0 and isinstance(cat.t0, CSVSource)
    cat.t0.persist()
    assert (second / "cat.yaml").exists() and len(store) == 1
    assert store.path == str(second)


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


def test_corrupt_index_never_breaks_catalog_access(three_sources, persist_dir):
    from intake_persistplus import PersistWarning

    cat = three_sources
    cat.t0.persist()
    (persist_dir / "cat.yaml").write_text("sources: [unclosed\n  - : :\n")
    with pytest.warns(PersistWarning, match="not valid YAML"):
        source = cat.t0
    assert isinstance(source, CSVSource) and source.read().shape == (20, 4)


def test_persist_rebuilds_a_corrupt_index_from_the_data_on_disk(three_sources, persist_dir):
    from intake_persistplus import PersistWarning

    cat = three_sources
    cat.t0.persist()
    cat.t1.persist(ttl=50)
    token0, token1 = (store.get_tok(cat[n](persist_mode="never")) for n in ("t0", "t1"))
    (persist_dir / "cat.yaml").write_text("sources: [unclosed\n")
    with pytest.warns(PersistWarning, match=r"rebuilt it from \d version record"):
        cat.t2(persist_mode="never").persist()
    assert len(store) == 3 and store.record(token1).ttl == 50  # nothing was dropped
    assert isinstance(cat.t0, ParquetSource) and cat.t0.read().shape == (20, 4)
    damaged = [p.name for p in persist_dir.iterdir() if ".damaged-" in p.name]
    assert len(damaged) == 1
    assert (persist_dir / damaged[0]).read_text() == "sources: [unclosed\n"
    assert token0 in intake.open_catalog(str(persist_dir / "cat.yaml"))


def test_an_empty_index_file_is_damaged_not_an_empty_store(three_sources, persist_dir):
    from intake_persistplus import PersistWarning

    cat = three_sources
    cat.t0.persist()
    (persist_dir / "cat.yaml").write_text("")
    with pytest.warns(PersistWarning, match="empty"):
        assert isinstance(cat.t0, CSVSource)
    with pytest.warns(PersistWarning, match="rebuilt"):
        cat.t1(persist_mode="never").persist()
    assert len(store) == 2 and isinstance(cat.t0, ParquetSource)


def test_the_index_cannot_choose_storage_options_or_add_keys(three_sources, persist_dir):
    cat = three_sources
    cat.t0.persist()
    token = store.get_tok(cat.t0(persist_mode="never"))
    index = persist_dir / "cat.yaml"
    doc = yaml.safe_load(index.read_text())
    doc["sources"][token]["args"]["storage_options"] = {"endpoint_url": "http://attacker.invalid"}
    doc["sources"]["not-a-token"] = {"driver": "csv", "args": {}}
    index.write_text(yaml.safe_dump(doc))
    fresh = PersistStore(str(persist_dir))
    assert len(fresh) == 1 and list(fresh) == [token]
    source = fresh[token]
    assert "storage_options" not in source._captured_init_kwargs or not source._storage_options
    assert source.read().shape == (20, 4)
