"""What a new user hit (issue 9), each through the interface they used."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import intake
import pytest

from intake_persistplus import (
    AlreadyPersistedError,
    AmbiguousNameError,
    PersistPathError,
    PersistSettingError,
    UnknownNameError,
    VersionGoneError,
    store,
)

from .conftest import make_frame, run_python
from .test_cli import cli


@pytest.fixture
def regions(tmp_path):
    """A catalog whose entry ``byregion`` has a user parameter, and declares persist:."""
    for region, n in (("north", 10), ("south", 20)):
        make_frame(n).to_csv(tmp_path / f"{region}.csv", index=False)
    path = tmp_path / "regions.yaml"
    path.write_text(
        "metadata: {version: 1}\nsources:\n  byregion:\n    driver: csv\n"
        "    parameters: {region: {description: which, type: str, default: north}}\n"
        "    args: {urlpath: '{{ CATALOG_DIR }}/{{ region }}.csv'}\n"
        "    metadata:\n      persist: {ttl: 1h, keep: 2, compression: zstd}\n"
    )
    return path


def test_cli_persist_applies_the_declared_settings(regions, persist_dir):
    cli("persist", str(regions), "byregion", store_dir=persist_dir)
    (token,) = list(store)
    rec = store.record(token)
    assert (rec.ttl, rec.keep, rec.persist_kwargs) == (3600, 2, {"compression": "zstd"})
    cli("persist", str(regions), "byregion", "--ttl", "15m", "--keep", "5", store_dir=persist_dir)
    rec = store.record(token)
    assert (rec.ttl, rec.keep, rec.persist_kwargs) == (900, 5, {"compression": "zstd"})


def test_refreshes_keep_the_user_parameters(regions, persist_dir):
    cli("persist", str(regions), "byregion", "-p", "region=south", store_dir=persist_dir)
    cli("refresh", "byregion", store_dir=persist_dir)
    (token,) = list(store)
    assert store.record(token).parameters == {"region": "south"}
    store.refresh(token)  # without original=: made again from the record
    assert store.record(token).parameters == {"region": "south"}
    assert "byregion(region='south')" in cli("list", store_dir=persist_dir).stdout
    assert store[token].read().shape == (20, 4)


def test_already_persisted_names_the_call_with_its_parameters(regions, persist_dir):
    cat = intake.open_catalog(str(regions))
    cat.byregion(region="south", persist_mode="never").persist()
    copy = cat.byregion(region="south")
    assert copy.is_persisted
    with pytest.raises(AlreadyPersistedError) as info:
        copy.persist()
    assert "cat.byregion(region='south', persist_mode='never').persist()" in str(info.value)


def test_names_are_accepted_wherever_a_token_is(regions, persist_dir):
    cat = intake.open_catalog(str(regions))
    cat.byregion(region="south", persist_mode="never").persist()
    assert store["byregion"].read().shape == (20, 4)
    assert len(store.versions("byregion")) == 1
    assert "byregion" in store and "nosuch" not in store
    cat.byregion(region="north", persist_mode="never").persist()
    with pytest.raises(AmbiguousNameError) as info:
        store["byregion"]
    assert "byregion(region='south')" in str(info.value) and "byregion(region='north')" in str(info.value)
    assert store["byregion(region='north')"].read().shape == (10, 4)  # the label as listed
    with pytest.raises(UnknownNameError, match="'nosuch'.*intake-persist list"):
        store.versions("nosuch")
    assert isinstance(UnknownNameError("x"), KeyError)
    assert store.remove("byregion(region='north')") is True and len(store) == 1
    usage = json.loads(cli("du", "--json", store_dir=persist_dir).stdout)
    assert list(usage["names"].values()) == [{"name": "byregion", "parameters": {"region": "south"}}]
    assert "byregion(region='south')" in cli("du", store_dir=persist_dir).stdout


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"compression": "nosuch"}, "compression='nosuch'.*'snappy', 'gzip'"),
        ({"row_group_size": "big"}, "row_group_size='big'.*whole number of rows"),
        ({"row_group_size": -1}, "row_group_size=-1.*whole number of rows >= 1"),
        ({"compression": "gzip", "compression_level": 99}, "compression_level=99.*gzip 1-9"),
    ],
)
def test_bad_writer_values_are_named_before_anything_is_written(csv_catalog, persist_dir, kwargs, words):
    source = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
    with pytest.raises(PersistSettingError, match=words):
        source.persist(**kwargs)
    assert len(store) == 0 and source.read().shape == (200, 4)


def test_a_file_as_persist_path_is_an_error_naming_it(tmp_path, csv_catalog):
    path = tmp_path / "not-a-folder"
    path.write_text("x")
    for command in ("list", "du", "gc"):
        proc = cli(command, store_dir=path, check=False)
        assert proc.returncode == 1 and f"{path!s}' is a file" in proc.stderr, command
    proc = cli("list", store_dir=path / "below", check=False)
    assert proc.returncode == 1 and f"{path!s}' is a file" in proc.stderr
    out = run_python(
        f"""
        import warnings, intake
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            source = intake.open_catalog({str(csv_catalog)!r}).csvsource
            print(type(source).__name__, source.read().shape[0])
        print([type(w.message).__name__ + ": " + str(w.message) for w in seen])
        """,
        env={"INTAKE_PERSIST_PATH": str(path)},
    )
    first, seen = out.stdout.splitlines()
    assert first == "CSVSource 200"
    assert "PersistWarning" in seen and "is a file" in seen


def _mount_tmpfs(path, options: str) -> bool:
    if os.geteuid() != 0:
        return False
    path.mkdir(exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    return proc.returncode == 0


@pytest.fixture
def read_only_store(tmp_path, monkeypatch, csv_catalog):
    """A store with one entry on a file system that is then remounted read-only."""
    mount = tmp_path / "mnt"
    if not _mount_tmpfs(mount, "size=16m"):
        pytest.skip("mounting a tmpfs needs root and mount permission")
    try:
        monkeypatch.setitem(intake.conf, "persist_path", str(mount / "persisted"))
        original = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
        original.persist()
        original.persist()
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield original
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_read_only_store_names_the_path_and_what_to_do(read_only_store):
    original = read_only_store
    with pytest.raises(PersistPathError) as info:
        original.persist()
    message = str(info.value)
    assert "Read-only file system" in message and store.path in message and "writable" in message
    with pytest.raises(PersistPathError, match="prune the versions.*Read-only file system on ") as info:
        store.prune(keep=1)
    assert store.path in str(info.value)
    with pytest.raises(PersistPathError, match="refresh.*Read-only file system"):
        store.refresh(original)
    assert len(store.versions(original)) == 2  # nothing lost
    assert intake.open_catalog(original._entry._catalog.path).csvsource.read().shape == (200, 4)


def test_reading_a_pruned_version_says_so(csv_catalog, persist_dir):
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()
    held = cat.csvsource  # a reader holds this version...
    cat.csvsource(persist_mode="never").persist(keep=1)  # ...another prunes it away
    with pytest.raises(VersionGoneError) as info:
        held.read()
    message = str(info.value)
    assert "no longer in the persist store" in message and "cat.csvsource()" in message
    assert isinstance(info.value, FileNotFoundError)
    assert cat.csvsource.read().shape == (200, 4)


def test_cli_durations_expiry_utc_and_plurals(csv_catalog, persist_dir):
    cli("persist", str(csv_catalog), "csvsource", "--ttl", "1s", store_dir=persist_dir)
    import time

    time.sleep(1.2)
    out = cli("list", store_dir=persist_dir).stdout
    assert "expired 1s ago" in out or "expired 2s ago" in out
    out = cli("versions", "csvsource", store_dir=persist_dir).stdout
    assert "TIME (UTC)" in out and "Z " in out
    out = cli("clear", "--yes", store_dir=persist_dir).stdout
    assert "removed 1 entry from" in out


def test_a_relative_persist_path_does_not_move_with_chdir(tmp_path, csv_catalog):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    out = run_python(
        f"""
        import os, intake
        os.chdir({str(tmp_path / 'a')!r})
        intake.conf["persist_path"] = "store"
        from intake_persistplus import store
        intake.open_catalog({str(csv_catalog)!r}).csvsource.persist()
        os.chdir({str(tmp_path / 'b')!r})
        print(store.path, len(store))
        """
    )
    assert out.stdout.split() == [str(tmp_path / "a" / "store"), "1"]


def test_cli_output_has_no_intake_getshell_noise(regions, persist_dir):
    proc = cli("persist", str(regions), "byregion", "-p", "region=south", store_dir=persist_dir)
    assert "getshell" not in proc.stderr and "getshell" not in proc.stdout


def test_progress_can_be_forced_where_stderr_is_no_terminal(csv_catalog, persist_dir):
    pytest.importorskip("tqdm")
    code = f"""
        import intake
        intake.conf["persist_progress"] = PROGRESS
        intake.open_catalog({str(csv_catalog)!r}).csvsource(persist_mode="never").persist()
        """
    env = {"INTAKE_PERSIST_PATH": str(persist_dir)}
    forced = run_python(code.replace("PROGRESS", "True"), env=env)
    assert "persisting" in forced.stderr and "100%" in forced.stderr
    default = run_python(code.replace("PROGRESS", "None"), env=env)
    assert "100%" not in default.stderr


def test_yaml_ttl_takes_durations(regions, persist_dir):
    cat = intake.open_catalog(str(regions))
    cat.byregion.read()  # the declared persist: happens on first data access
    (token,) = list(store)
    assert store.record(token).ttl == 3600


def test_python_api_errors_keep_the_original_usable(csv_catalog, persist_dir):
    source = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
    with pytest.raises(PersistSettingError, match="ttl='soon'"):
        source.persist(ttl="soon")
    assert source.read().shape == (200, 4) and sys.modules.get("intake_persistplus")


def test_a_bare_name_reaches_its_entry_beside_parameterised_ones(regions, persist_dir):
    cli("persist", str(regions), "byregion", store_dir=persist_dir)
    cli("persist", str(regions), "byregion", "-p", "region=south", store_dir=persist_dir)
    info = json.loads(cli("info", "byregion", "--json", store_dir=persist_dir).stdout)
    assert info["parameters"] == {}
    assert store["byregion"].read().shape == (10, 4)


def test_get_does_not_hide_an_ambiguous_name(regions, persist_dir):
    cat = intake.open_catalog(str(regions))
    cat.byregion(region="south", persist_mode="never").persist()
    cat.byregion(region="north", persist_mode="never").persist()
    assert "byregion" in store
    with pytest.raises(AmbiguousNameError):
        store.get("byregion")
    assert store.get("nosuch") is None


def test_durations_in_the_python_api(csv_catalog, persist_dir):
    import datetime as dt

    source = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
    assert source.persist(ttl=dt.timedelta(hours=1)).metadata["ttl"] == 3600
    source.persist()
    assert store.prune(source, older_than="7d", dry_run=True) == []
    assert len(store.prune(source, older_than="0s", dry_run=True)) == 1
    with pytest.raises(PersistSettingError, match="older_than"):
        store.prune(source, older_than=dt.timedelta(days=-1))
    assert len(store.versions(source)) == 2


def test_times_in_messages_are_utc(csv_catalog, persist_dir):
    source = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
    source.persist()
    with pytest.raises(KeyError, match=r"existed at 2000-01-01T00:00:00Z; the first was written at 20\d\d-.*Z"):
        store.version_at(source, "2000-01-01T00:00:00+00:00")


def test_backtrack_keeps_the_user_parameters(regions, persist_dir):
    cat = intake.open_catalog(str(regions))
    cat.byregion(region="south", persist_mode="never").persist()
    again = store.backtrack("byregion")
    again.persist()
    assert store.record("byregion").parameters == {"region": "south"}
    assert store.record("byregion").label == "byregion(region='south')"


def test_a_store_made_with_a_relative_path_stays_put(tmp_path, monkeypatch):
    from intake_persistplus import PersistStore

    monkeypatch.chdir(tmp_path)
    made = PersistStore("rel")
    monkeypatch.chdir("/")
    assert made.path == str(tmp_path / "rel")


def test_refreshing_nothing_leaves_nothing(persist_dir):
    persist_dir.mkdir()
    with pytest.raises(KeyError):
        store.refresh("0123456789abcdef0123456789abcdef")
    assert list(persist_dir.iterdir()) == []


def test_has_been_persisted_survives_a_damaged_index(csv_catalog, persist_dir):
    from intake_persistplus import PersistWarning

    source = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
    source.persist()
    (persist_dir / "cat.yaml").write_text("sources: [unclosed\n")
    with pytest.warns(PersistWarning, match="(?s)not valid YAML.*rebuilt"):
        assert source.has_been_persisted is True  # the entry is in its head


def test_the_hint_for_an_entry_name_that_is_no_identifier(tmp_path, persist_dir):
    make_frame(5).to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "c.yaml").write_text(
        "sources:\n  my-entry:\n    driver: csv\n    args: {urlpath: '{{ CATALOG_DIR }}/t.csv'}\n"
    )
    cat = intake.open_catalog(str(tmp_path / "c.yaml"))
    copy = cat["my-entry"](persist_mode="never").persist()
    with pytest.raises(AlreadyPersistedError, match=r"cat\['my-entry'\]\(persist_mode='never'\).persist\(\)"):
        copy.persist()


def test_an_index_that_is_a_folder_is_named(persist_dir):
    (persist_dir / "cat.yaml").mkdir(parents=True)
    proc = cli("list", store_dir=persist_dir, check=False)
    assert proc.returncode == 1 and f"{persist_dir / 'cat.yaml'} in the persist store is not a file" in proc.stderr
