"""source.export(path): a shareable copy, YAML to paste into a catalog, store untouched."""

from __future__ import annotations

import json

import dask.base
import intake
import numpy as np
import pandas as pd
import pytest
import yaml

from intake_persistplus import store

from .conftest import make_frame, write_catalog

xr = pytest.importorskip("xarray")


@pytest.fixture
def mixed_catalog(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    make_frame(40).to_csv(data / "table.csv", index=False)
    np.save(data / "arr.npy", np.arange(10, dtype="uint8"))
    xr.Dataset({"v": (("x",), np.arange(3, dtype="int16"))}, coords={"x": ["a", "b", "c"]}).to_netcdf(
        data / "ds.nc", engine="scipy"
    )
    (data / "doc.json").write_text(json.dumps({"k": [1, 2]}))
    return write_catalog(
        data,
        {
            "table": {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}table.csv"}, "metadata": {"team": "a"}},
            "arr": {"driver": "numpy", "args": {"path": "{{ CATALOG_DIR }}arr.npy"}},
            "ds": {"driver": "netcdf", "args": {"urlpath": "{{ CATALOG_DIR }}ds.nc"}},
            "doc": {"driver": "jsonfiles", "args": {"urlpath": "{{ CATALOG_DIR }}doc.json"}},
        },
    )


def same(a, b):
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    elif isinstance(a, xr.Dataset):
        xr.testing.assert_identical(a, b)
    else:
        assert a == b


@pytest.mark.parametrize("name", ["table", "arr", "ds", "doc"])
def test_export_round_trip_through_a_pasted_catalog(mixed_catalog, persist_dir, tmp_path, monkeypatch, name):
    cat = intake.open_catalog(str(mixed_catalog))
    original = cat[name]
    text = original.export(str(tmp_path / "shared" / name))

    doc = yaml.safe_load(text)
    (entry_name, entry), = doc["sources"].items()
    assert entry_name == name
    md = entry["metadata"]
    assert md["original_tok"] == dask.base.tokenize(original)
    assert md["original_name"] == name and "original_source" in md and "original_metadata" in md
    assert entry["args"]["urlpath"].startswith(str(tmp_path))  # absolute

    assert not persist_dir.exists() or len(store) == 0  # the store is untouched

    mycat = tmp_path / "mine.yaml"
    mycat.write_text("metadata:\n  version: 1\n" + text)
    exported = intake.open_catalog(str(mycat))[name]
    same(exported.read(), original.read())

    # backtrack works from the exported source alone, without any store
    monkeypatch.setitem(intake.conf, "persist_path", str(tmp_path / "empty-store"))
    again = store.backtrack(exported)
    assert dask.base.tokenize(again) == dask.base.tokenize(original)
    same(again.read(), original.read())


def test_export_refuses_a_non_empty_location(mixed_catalog, tmp_path):
    cat = intake.open_catalog(str(mixed_catalog))
    target = tmp_path / "out"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="overwrite=True") as info:
        cat.table.export(str(target))
    assert str(target) in str(info.value)
    assert (target / "precious.txt").read_text() == "keep me"

    text = cat.table.export(str(target), overwrite=True)
    assert not (target / "precious.txt").exists()
    assert "sources:" in text
    cat.table.export(str(tmp_path / "empty-dir-ok"))


def test_export_to_an_fsspec_url(mixed_catalog):
    import fsspec

    cat = intake.open_catalog(str(mixed_catalog))
    text = cat.table.export("memory://exports/table")
    entry = yaml.safe_load(text)["sources"]["table"]
    assert entry["args"]["urlpath"] == "memory://exports/table"
    assert fsspec.filesystem("memory").ls("/exports/table")
    back = pd.read_parquet("memory://exports/table")
    pd.testing.assert_frame_equal(back, cat.table.read())


def test_export_of_a_persisted_copy_names_the_real_original(mixed_catalog, persist_dir, tmp_path):
    cat = intake.open_catalog(str(mixed_catalog))
    original = cat.table(persist_mode="never")
    persisted = original.persist()
    md = yaml.safe_load(persisted.export(str(tmp_path / "x")))["sources"]["table"]["metadata"]
    assert md["original_tok"] == dask.base.tokenize(original)
    assert md["original_source"]["cls"] == "intake.source.csv.CSVSource"


def test_exported_yaml_carries_no_credentials(mixed_catalog):
    cat = intake.open_catalog(str(mixed_catalog))
    text = cat.arr.export("memory://exports/arr", storage_options={"key": "SECRETKEY123", "skip_instance_cache": True})
    assert "SECRETKEY123" not in text
    (entry,) = yaml.safe_load(text)["sources"].values()
    assert entry["args"]["storage_options"] == {"skip_instance_cache": True}
