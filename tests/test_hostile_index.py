"""An index entry written by someone else (a shared store) cannot make a catalog
access read outside the store, build a catalog, or import a module."""

from __future__ import annotations

import os
import warnings

import intake
import pytest
import yaml

from intake_persistplus import PersistWarning, store

from .conftest import run_python


def edit_entry(persist_dir, change) -> str:
    index = persist_dir / "cat.yaml"
    doc = yaml.safe_load(index.read_text())
    (token, entry), = doc["sources"].items()
    change(token, entry)
    index.write_text(yaml.safe_dump(doc))
    return token


def served(csv_catalog):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        source = intake.open_catalog(str(csv_catalog)).csvsource
    return source, [str(w.message) for w in seen if issubclass(w.category, PersistWarning)]


@pytest.fixture
def outside(tmp_path):
    """A file outside the store that must never be served."""
    path = tmp_path / "outside" / "secret.csv"
    path.parent.mkdir()
    path.write_text("secret\n42\n")
    return path


@pytest.mark.parametrize(
    "urlpath",
    [
        lambda o, folder: [str(o)],
        lambda o, folder: {"a": str(o)},
        lambda o, folder: f"{folder}/../../outside/secret.csv",
        lambda o, folder: f"simplecache::{o}",
        lambda o, folder: f"file://{o}",
        lambda o, folder: "secret.csv",  # relative: the reader's working directory
    ],
    ids=["list", "dict", "dotdot", "chained", "file-url", "relative"],
)
def test_an_entry_pointing_outside_its_folder_serves_the_original(
    csv_catalog, persist_dir, outside, urlpath
):
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()

    def change(token, entry):
        entry["args"]["urlpath"] = urlpath(outside, str(persist_dir / token))

    edit_entry(persist_dir, change)
    source, seen = served(csv_catalog)
    assert not source.is_persisted and source.read().shape == (200, 4)
    assert any("points outside its folder" in m for m in seen)


def test_a_symlink_out_of_the_folder_is_not_followed(csv_catalog, persist_dir, outside):
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()
    record = store.record(cat.csvsource(persist_mode="never"))
    data = persist_dir / record.token / record.version / "data"
    for part in data.iterdir():
        part.unlink()
    data.rmdir()
    os.symlink(outside.parent, data)
    source, seen = served(csv_catalog)
    assert not source.is_persisted and source.read().shape == (200, 4)
    assert any("points outside its folder" in m for m in seen)


@pytest.mark.parametrize("driver", ["yaml_file_cat", "csv", "textfiles", "intake.source.csv.CSVSource"])
def test_only_drivers_that_persisters_write_are_built(csv_catalog, persist_dir, driver):
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()
    edit_entry(persist_dir, lambda token, entry: entry.update(driver=driver))
    source, seen = served(csv_catalog)
    assert not source.is_persisted and source.read().shape == (200, 4)
    assert any(f"driver {driver!r}, which no persister writes" in m for m in seen)


def test_an_entry_cannot_make_a_catalog_access_import_a_module(csv_catalog, persist_dir):
    """The attack of issue 14: a catalog entry whose plugins list a module that exits."""
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()

    def change(token, entry):
        (persist_dir / token / "evil.yaml").write_text(
            "plugins:\n  source:\n    - module: unittest.__main__\nsources: {}\n"
        )
        entry["driver"] = "yaml_file_cat"
        entry["args"] = {"path": "{{ CATALOG_DIR }}/" + token + "/evil.yaml"}

    edit_entry(persist_dir, change)
    out = run_python(
        f"""
        import sys, warnings, intake
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            source = intake.open_catalog({str(csv_catalog)!r}).csvsource
        print(type(source).__name__, source.read().shape[0], "unittest.__main__" in sys.modules)
        """,
        env={"INTAKE_PERSIST_PATH": str(persist_dir)},
    )
    assert out.stdout.split() == ["CSVSource", "200", "False"]


@pytest.mark.parametrize("depth", [6, 9])
def test_an_alias_bomb_does_not_hang_a_catalog(csv_catalog, persist_dir, depth):
    """Each level refers to the one below nine times: 9**(depth+1) values once expanded."""
    import time

    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()
    token = store.get_tok(cat.csvsource(persist_mode="never"))
    text = (persist_dir / "cat.yaml").read_text()
    levels = ["      a0: &a0 [x, x, x, x, x, x, x, x, x]"] + [
        f"      a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, depth + 1)
    ]
    bomb = f"  {token}:\n    driver: persisted_parquet\n    args:\n" + "\n".join(levels) + "\n"
    (persist_dir / "cat.yaml").write_text(text.split("sources:")[0] + "sources:\n" + bomb)
    t0 = time.perf_counter()
    source, seen = served(csv_catalog)
    assert time.perf_counter() - t0 < 2
    # the view is refused and rebuilt from the heads: the copy stays served
    assert source.is_persisted and source.read().shape == (200, 4)
    assert any("YAML aliases" in m and "rebuilt" in m for m in seen)
    assert "&a0" not in (persist_dir / "cat.yaml").read_text()


@pytest.fixture
def elsewhere(tmp_path):
    """An outside folder with a canary file, and a folder named like a version id."""
    folder = tmp_path / "elsewhere"
    (folder / "20200101T000000.000000Z-abcdef").mkdir(parents=True)
    (folder / "20200101T000000.000000Z-abcdef" / "canary.txt").write_text("keep me")
    (folder / "canary.txt").write_text("keep me")
    return folder


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_index_symlink_is_never_written_through(csv_catalog, persist_dir, elsewhere):
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()
    outside_index = elsewhere / "cat.yaml"
    outside_index.write_text((persist_dir / "cat.yaml").read_text())
    (persist_dir / "cat.yaml").unlink()
    os.symlink(outside_index, persist_dir / "cat.yaml")
    before = snapshot(elsewhere)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = intake.open_catalog(str(csv_catalog)).csvsource
        assert not source.is_persisted  # the link is not read either
        with pytest.raises(OSError, match="symbolic link"):
            cat.csvsource(persist_mode="never").persist(ttl=5)
    assert snapshot(elsewhere) == before


def test_a_lock_symlink_creates_nothing(csv_catalog, persist_dir, tmp_path):
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()
    target = tmp_path / "created-by-the-lock"
    (persist_dir / ".cat.yaml.lock").unlink()
    os.symlink(target, persist_dir / ".cat.yaml.lock")
    cat.csvsource(persist_mode="never").persist()  # a commit needs no lock of the view
    assert not target.exists()
    token = store.get_tok(cat.csvsource(persist_mode="never"))
    (persist_dir / ".locks" / token).unlink()
    os.symlink(target, persist_dir / ".locks" / token)  # the source's own lock
    with pytest.raises(OSError):
        cat.csvsource(persist_mode="never").persist()
    assert not target.exists()


def test_a_symlinked_token_folder_receives_nothing_and_loses_nothing(csv_catalog, persist_dir, elsewhere):
    cat = intake.open_catalog(str(csv_catalog))
    original = cat.csvsource(persist_mode="never")
    original.persist()
    token = store.get_tok(original)
    import shutil

    shutil.rmtree(persist_dir / token)
    os.symlink(elsewhere, persist_dir / token)
    before = snapshot(elsewhere)
    with pytest.raises(OSError, match="symbolic link"):
        original.persist()
    store.gc()
    with pytest.raises(OSError, match="symbolic link"):
        store.remove(original)
    assert snapshot(elsewhere) == before
