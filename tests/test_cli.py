"""The intake-persist command line, driven as a subprocess on a real store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import intake
import pytest

from intake_persistplus import store

from .conftest import make_frame


def cli(*args, store_dir, check=True, stdin=None):
    env = dict(os.environ, INTAKE_PERSIST_PATH=str(store_dir))
    proc = subprocess.run(
        [sys.executable, "-m", "intake_persistplus", *args],
        capture_output=True, text=True, env=env, timeout=120, stdin=stdin,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def filled(csv_catalog, persist_dir):
    """Two entries: 'csvsource' (ttl 0, expired) and 'fresh' (no ttl), two versions of the first."""
    (csv_catalog.parent / "other.csv").write_text(make_frame(5).to_csv(index=False))
    text = csv_catalog.read_text().replace(
        "sources:\n", "sources:\n  fresh:\n    driver: csv\n    args:\n      urlpath: '{{ CATALOG_DIR }}/other.csv'\n", 1
    )
    csv_catalog.write_text(text)
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist(ttl=0)
    store.refresh(cat.csvsource(persist_mode="never"))
    cat.fresh.persist()
    return cat


def test_list_table_and_json(filled, persist_dir):
    out = cli("list", store_dir=persist_dir).stdout
    header, *rows = out.strip().splitlines()
    assert header.split()[:4] == ["TOKEN", "NAME", "CONTAINER", "SIZE"]
    assert len(rows) == 2
    by_name = {line.split()[1]: line for line in rows}
    assert by_name["csvsource"].rstrip().endswith("expired")
    assert by_name["fresh"].rstrip().endswith("fresh")

    doc = json.loads(cli("list", "--json", store_dir=persist_dir).stdout)
    assert {d["name"] for d in doc} == {"csvsource", "fresh"}
    for d in doc:
        assert {"token", "name", "container", "timestamp", "ttl", "expired"} <= set(d)
    assert {d["name"]: d["expired"] for d in doc} == {"csvsource": True, "fresh": False}


def test_info_and_versions(filled, persist_dir):
    info = json.loads(cli("info", "csvsource", "--json", store_dir=persist_dir).stdout)
    assert info["name"] == "csvsource" and info["versions"] == 2 and info["ttl"] == 0
    token = info["token"]
    assert json.loads(cli("info", token[:8], "--json", store_dir=persist_dir).stdout)["token"] == token
    versions = json.loads(cli("versions", "csvsource", "--json", store_dir=persist_dir).stdout)
    assert len(versions) == 2 and versions[-1]["current"] is True
    assert "*" in cli("versions", token, store_dir=persist_dir).stdout


def test_refresh_expired_only(filled, persist_dir, csv_catalog):
    before = {t: store.record(t).version for t in store}
    # unchanged originals: the expired copy is revalidated, not written again
    out = json.loads(cli("refresh", "--expired", "--json", store_dir=persist_dir).stdout)
    assert [(d["name"], d["revalidated"]) for d in out["refreshed"]] == [("csvsource", True)]
    assert out["failed"] == [] and {t: store.record(t).version for t in store} == before
    (csv_catalog.parent / "table.csv").write_text(make_frame(7).to_csv(index=False))
    out = json.loads(cli("refresh", "--expired", "--json", store_dir=persist_dir).stdout)
    assert [(d["name"], d["revalidated"]) for d in out["refreshed"]] == [("csvsource", False)]
    after = {t: store.record(t).version for t in store}
    changed = {store.record(t).original_name for t in store if before[t] != after[t]}
    assert changed == {"csvsource"}


def test_refresh_failure_is_reported_and_exits_non_zero(filled, persist_dir, csv_catalog):
    (csv_catalog.parent / "other.csv").unlink()
    proc = cli("refresh", "fresh", store_dir=persist_dir, check=False)
    assert proc.returncode == 1
    assert "refresh of" in proc.stderr and "Traceback" not in proc.stderr


def test_remove_prune_du_clear(filled, persist_dir):
    usage = json.loads(cli("du", "--json", store_dir=persist_dir).stdout)
    assert len(usage["entries"]) == 2 and usage["total"] > 0

    dry = json.loads(cli("prune", "--keep", "1", "--dry-run", "--json", store_dir=persist_dir).stdout)
    assert dry["dry_run"] is True and len(dry["removed"]) == 1
    cli("prune", "--keep", "1", store_dir=persist_dir)
    assert all(len(store.versions(t)) == 1 for t in store)

    cli("remove", "fresh", store_dir=persist_dir)
    assert [store.record(t).original_name for t in store] == ["csvsource"]

    proc = cli("clear", store_dir=persist_dir, check=False, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1 and "--yes" in proc.stderr and len(store) == 1
    cli("clear", "--yes", store_dir=persist_dir)
    assert len(store) == 0


def test_persist_and_export(csv_catalog, persist_dir, tmp_path):
    out = json.loads(
        cli("persist", str(csv_catalog), "csvsource", "--ttl", "60", "--json", store_dir=persist_dir).stdout
    )
    assert store.record(out["token"]).ttl == 60
    text = cli("export", "csvsource", str(tmp_path / "exported"), store_dir=persist_dir).stdout
    assert text.startswith("sources:") and str(tmp_path / "exported") in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["info", "nothing-here"], "no persisted entry 'nothing-here'"),
        (["refresh"], "say what to refresh"),
        (["persist", "no-such-catalog.yaml", "x"], "no-such-catalog.yaml"),
        (["persist", "CATALOG", "missing"], "has no entry 'missing'"),
        (["persist", "CATALOG", "csvsource", "--ttl", "-5"], "ttl='-5'"),
        (["persist", "CATALOG", "csvsource", "-p", "yaer=2023"], "has no parameter 'yaer'"),
    ],
)
def test_errors_are_one_line_without_traceback(csv_catalog, persist_dir, args, message):
    args = [str(csv_catalog) if a == "CATALOG" else a for a in args]
    proc = cli(*args, store_dir=persist_dir, check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_arguments_exit_2(persist_dir):
    proc = cli("prune", "--older-than", "soon", store_dir=persist_dir, check=False)
    assert proc.returncode == 2 and "not a duration" in proc.stderr


def test_debug_shows_the_traceback(persist_dir):
    proc = cli("info", "nothing-here", "--debug", store_dir=persist_dir, check=False)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_persist_path_option_and_console_script(filled, persist_dir, tmp_path):
    exe = shutil.which("intake-persist", path=os.path.dirname(sys.executable))
    assert exe, "console script not installed"
    env = dict(os.environ, INTAKE_PERSIST_PATH=str(tmp_path / "elsewhere"))
    proc = subprocess.run(
        [exe, "--persist-path", str(persist_dir), "list", "--json"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 2


def test_gc_removes_leftovers_of_a_dead_writer(filled, persist_dir):
    token = next(iter(store))
    dead = persist_dir / token / "20200101T000000.000000Z-abcdef"
    (dead / "data").mkdir(parents=True)
    (dead / "data" / "part.0.parquet").write_bytes(b"half")
    (dead / ".incomplete").write_text(json.dumps({"pid": 999999999, "host": os.uname().nodename, "started": time.time()}))
    out = cli("gc", store_dir=persist_dir).stdout
    assert "removed 1" in out and not dead.exists()


def test_compact_brings_the_view_up_to_date_for_a_hand_edit(filled, persist_dir, monkeypatch):
    import intake_persistplus.index.core as core

    monkeypatch.setattr(core, "SMALL_VIEW", 0)  # as in a big store: commits leave the view behind
    cli("list", store_dir=persist_dir)  # the listing is kept...
    source = filled.fresh(persist_mode="never")
    store.refresh(source)
    version = store.record(source).version
    assert version not in (persist_dir / "cat.yaml").read_text() and os.listdir(persist_dir / ".journal")
    listed = json.loads(cli("list", "--json", store_dir=persist_dir).stdout)
    assert version in {d["version"] for d in listed}  # ...so list reads only the pending heads
    assert version not in (persist_dir / "cat.yaml").read_text()  # and leaves the file alone
    out = cli("compact", store_dir=persist_dir).stdout
    assert "holds every entry (2 entries)" in out
    assert version in (persist_dir / "cat.yaml").read_text() and not os.listdir(persist_dir / ".journal")


def test_prune_keep_must_be_positive(persist_dir):
    proc = cli("prune", "--keep", "0", store_dir=persist_dir, check=False)
    assert proc.returncode == 2 and "whole number >= 1" in proc.stderr


def test_list_shows_user_parameters_and_an_empty_store_says_where(tmp_path, persist_dir):
    out = cli("list", store_dir=persist_dir).stdout
    assert f"no persisted entries in {persist_dir}" in out
    make_frame(10).to_csv(tmp_path / "small.csv", index=False)
    make_frame(20).to_csv(tmp_path / "large.csv", index=False)
    (tmp_path / "p.yaml").write_text(
        "metadata: {version: 1}\nsources:\n  table:\n    driver: csv\n"
        "    parameters: {size: {description: which, type: str, default: small}}\n"
        "    args: {urlpath: '{{ CATALOG_DIR }}/{{ size }}.csv'}\n"
    )
    cli("persist", str(tmp_path / "p.yaml"), "table", "-p", "size=large", store_dir=persist_dir)
    cli("persist", str(tmp_path / "p.yaml"), "table", store_dir=persist_dir)
    out = cli("list", store_dir=persist_dir).stdout
    assert "table(size='large')" in out and "\n" in out
    doc = json.loads(cli("list", "--json", store_dir=persist_dir).stdout)
    assert sorted(str(d["parameters"]) for d in doc) == ["{'size': 'large'}", "{}"]
