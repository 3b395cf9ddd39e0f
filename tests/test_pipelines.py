"""Pipelines: persisted sources made from persisted sources, refreshed as a
train on demand, on data access and on a schedule. Through
``intake.open_catalog`` on real CSV files, intake's own derived sources, the
command line in fresh processes, and a distributed cluster on the moto S3 store.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import intake
import pandas as pd
import pytest
import yaml

from intake_persistplus import PersistWarning, PipelineError, store

from . import pipeline_steps

ROOT = Path(__file__).resolve().parents[1]
TTL = 1


def write_csv(path: Path, rows: list[tuple[str, int]]) -> None:
    path.write_text("k,v\n" + "".join(f"{k},{v}\n" for k, v in rows))


def transform(target: str, func: str, ttl=TTL, **kwargs) -> dict:
    return {"driver": "intake.source.derived.DataFrameTransform",
            "args": {"targets": [target], "transform": f"tests.pipeline_steps.{func}",
                     "transform_kwargs": kwargs},
            "metadata": {"persist": {"ttl": ttl}}}


def csv_entry(name: str, ttl=TTL, **persist) -> dict:
    return {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}/" + name},
            "metadata": {"persist": {"ttl": ttl, **persist}}}


def catalog(folder: Path, sources: dict, name: str = "catalog.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({"sources": sources}, sort_keys=False))
    return path


@pytest.fixture
def train(tmp_path, persist_dir) -> Path:
    """raw.csv -> doubled (DataFrameTransform) -> totals (a group-by sum), each with ttl 1."""
    write_csv(tmp_path / "raw.csv", [("a", 1), ("b", 2), ("a", 3)])
    return catalog(tmp_path, {"raw": csv_entry("raw.csv"), "doubled": transform("raw", "double"),
                              "totals": transform("doubled", "total")})


def versions(name: str) -> list[str]:
    return [v.version for v in store.versions(name)]


def by_hand(path: Path) -> pd.DataFrame:
    return pipeline_steps.total(pipeline_steps.double(pd.read_csv(path)))


def expire() -> None:
    time.sleep(TTL + 0.1)


def test_a_changed_csv_refreshes_the_three_steps_in_order_on_access(train):
    cat = intake.open_catalog(str(train))
    pd.testing.assert_frame_equal(cat.totals.read(), by_hand(train.parent / "raw.csv"))
    first = {n: versions(n) for n in ("raw", "doubled", "totals")}
    assert all(len(v) == 1 for v in first.values())  # each step persisted once, as declared
    deps = store.dependencies("totals")
    assert [deps["name"], deps["upstream"][0]["name"], deps["upstream"][0]["upstream"][0]["name"]] == \
        ["totals", "doubled", "raw"] and deps["state"] == "fresh"
    expire()
    write_csv(train.parent / "raw.csv", [("a", 10), ("b", 20), ("c", 5)])
    result = intake.open_catalog(str(train)).totals.read()
    pd.testing.assert_frame_equal(result, by_hand(train.parent / "raw.csv"), check_exact=True)
    new = {n: store.record(n) for n in ("raw", "doubled", "totals")}
    assert all(new[n].version not in first[n] for n in new)  # all three refreshed...
    assert new["raw"].timestamp < new["doubled"].timestamp < new["totals"].timestamp  # ...in order
    assert new["totals"].built_from[new["doubled"].token]["version"] == new["doubled"].version


def test_one_long_lived_catalog_sees_every_change(train):
    """intake keeps an entry's default source, and a derived source the dask graph
    it first built (on its upstream's copy of the time): each refresh of the
    train makes its steps anew, so 3 changes read through one catalog object
    give 3 right answers."""
    cat = intake.open_catalog(str(train))
    for i in range(3):
        write_csv(train.parent / "raw.csv", [("a", i), ("b", 10 * i)])
        if i:
            expire()
        pd.testing.assert_frame_equal(cat.totals.read(), by_hand(train.parent / "raw.csv"), check_exact=True)
        pd.testing.assert_frame_equal(cat.doubled.read(), cat.doubled(persist_mode="never").read())
        assert cat.doubled.read()["v2"].tolist() == [2 * i, 20 * i]
    assert len(versions("totals")) == 3


def test_an_upstream_moved_to_a_new_token_by_a_catalog_edit_keeps_the_train_right(train):
    """Editing raw's description moves its copy to a new token (same data); the
    steps below were made from the old token, so the next refresh rewrites
    them once from what raw holds now, and a later change still reaches them."""
    intake.open_catalog(str(train)).totals.read()
    doc = yaml.safe_load(train.read_text())
    doc["sources"]["raw"]["description"] = "edited"
    train.write_text(yaml.safe_dump(doc, sort_keys=False))
    expire()
    write_csv(train.parent / "raw.csv", [("m", 4)])
    pd.testing.assert_frame_equal(intake.open_catalog(str(train)).totals.read(), by_hand(train.parent / "raw.csv"))
    assert store.record("raw").rekeys == 1
    expire()
    write_csv(train.parent / "raw.csv", [("n", 6)])
    pd.testing.assert_frame_equal(intake.open_catalog(str(train)).totals.read(), by_hand(train.parent / "raw.csv"))


def test_an_unchanged_csv_rewrites_nothing(train):
    cat = intake.open_catalog(str(train))
    expected = cat.totals.read()
    before = {n: versions(n) for n in ("raw", "doubled", "totals")}
    expire()
    pd.testing.assert_frame_equal(intake.open_catalog(str(train)).totals.read(), expected)
    assert {n: versions(n) for n in before} == before  # revalidated, not rewritten
    assert all(store.record(n).checked is not None for n in before)
    assert not store.record("totals").expired()


def test_an_upstream_rewritten_with_the_same_data_does_not_rewrite_the_steps_below(train):
    intake.open_catalog(str(train)).totals.read()
    below = {n: versions(n) for n in ("doubled", "totals")}
    outcomes = store.refresh_train("raw", upstream=False, downstream=True)
    assert [(o.step, o.outcome) for o in outcomes] == [
        ("raw", "refreshed"), ("doubled", "unchanged"), ("totals", "unchanged")]
    assert {n: versions(n) for n in below} == below and len(versions("raw")) == 2


def test_refresh_on_demand_upstream_and_downstream(train):
    cat = intake.open_catalog(str(train))
    cat.totals.read()
    write_csv(train.parent / "raw.csv", [("z", 7)])
    fresh = store.refresh("totals", upstream=True)  # no ttl ran out: on demand
    pd.testing.assert_frame_equal(fresh.read(), by_hand(train.parent / "raw.csv"))
    write_csv(train.parent / "raw.csv", [("y", 1)])
    store.refresh("raw", downstream=True)
    pd.testing.assert_frame_equal(intake.open_catalog(str(train)).totals.read(),
                                  by_hand(train.parent / "raw.csv"))
    assert [n["name"] for n in store.dependents("raw")["downstream"]] == ["doubled"]
    assert store.dependents("raw")["downstream"][0]["downstream"][0]["name"] == "totals"


def test_a_derived_step_reads_its_upstream_from_the_copy(train):
    cat = intake.open_catalog(str(train))
    cat.raw.read()  # raw is persisted (its entry declares it)
    expected = by_hand(train.parent / "raw.csv")
    (train.parent / "raw.csv").unlink()  # only the copy has the data now
    assert cat.raw.is_persisted
    pd.testing.assert_frame_equal(intake.open_catalog(str(train)).totals.read(), expected)


def test_an_upstream_that_declares_no_persist_is_read_from_its_original(tmp_path, persist_dir):
    """Only entries that declare persist: are persisted by a train: an upstream
    without is read through, and a change of its file reaches the copies below."""
    write_csv(tmp_path / "raw.csv", [("a", 1), ("b", 2)])
    cat_path = catalog(tmp_path, {"raw": {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}/raw.csv"}},
                                  "doubled": transform("raw", "double"), "totals": transform("doubled", "total")})
    intake.open_catalog(str(cat_path)).totals.read()
    assert sorted(r.original_name for r in store.records().values()) == ["doubled", "totals"]
    expire()
    write_csv(tmp_path / "raw.csv", [("a", 5)])
    cat = intake.open_catalog(str(cat_path))
    assert not cat.raw.is_persisted
    pd.testing.assert_frame_equal(cat.totals.read(), by_hand(tmp_path / "raw.csv"))


def test_a_step_done_by_someone_else_is_still_rewritten_when_its_upstream_changed(train):
    """A scheduler's run that fired before another process refreshed a step
    still rewrites it when its upstream changed since (``not_before`` means
    "written since, from the upstream copies there are now")."""
    intake.open_catalog(str(train)).totals.read()
    fired = time.time()
    store.refresh("doubled")  # someone else, after the firing
    write_csv(train.parent / "raw.csv", [("q", 3)])
    store.refresh("raw")  # and raw changed since
    outcomes = {o.step: o.outcome for o in store.refresh_train("totals", policy="schedule", not_before=fired)}
    assert outcomes["doubled"] == "refreshed" and outcomes["totals"] == "refreshed", outcomes
    assert not store.train_stale(store.record("totals"))
    pd.testing.assert_frame_equal(intake.open_catalog(str(train)).totals(persist_mode="always").read(),
                                  by_hand(train.parent / "raw.csv"))


def test_depends_on_with_dotdot_keeps_one_copy_of_the_upstream(tmp_path, persist_dir):
    """``depends_on: [../catalog.yaml:entry]`` names the same entry as opening
    that catalog directly: one copy, one token, nothing moved back and forth."""
    write_csv(tmp_path / "raw.csv", [("a", 1)])
    top = catalog(tmp_path, {"raw": csv_entry("raw.csv")})
    (tmp_path / "sub").mkdir()
    write_csv(tmp_path / "sub" / "b.csv", [("b", 1)])
    below = catalog(tmp_path / "sub", {"report": csv_entry("b.csv", depends_on=["../catalog.yaml:raw"])})
    for _ in range(2):
        intake.open_catalog(str(top)).raw.read()
        intake.open_catalog(str(below)).report.read()
    records = store.records().values()
    assert sorted(r.original_name for r in records) == ["raw", "report"]
    assert all(r.rekeys == 0 for r in records)
    (up,) = store.record("report").built_from
    assert store.record("raw").token == up


@pytest.mark.parametrize("where", ["inside-the-store", "another-users-file", "a-url"])
def test_a_catalog_named_by_a_record_is_opened_only_when_it_is_the_users_own(tmp_path, persist_dir, where):
    """A record's persist_catalog is data anyone who can write the store wrote:
    a refresh never opens a catalog in the store, another user's, or at a URL
    (opening one builds its drivers); it remakes the original from the record."""
    write_csv(tmp_path / "raw.csv", [("a", 1)])
    cat_path = catalog(tmp_path, {"raw": csv_entry("raw.csv", ttl=None)})
    intake.open_catalog(str(cat_path)).raw.read()
    marker = tmp_path / "trap-sprung"
    evil = yaml.safe_dump({"sources": {"raw": {"driver": "tests.pipeline_steps.Trap",
                                               "args": {"marker": str(marker)}}}})
    if where == "inside-the-store":
        target = persist_dir / "evil.yaml"
    else:
        target = tmp_path / "evil.yaml"
    target.write_text(evil)
    if where == "another-users-file":
        os.chown(target, 54321, 54321)
    named = "http://127.0.0.1:9/evil.yaml" if where == "a-url" else str(target)
    view = persist_dir / "cat.yaml"
    text = view.read_text()
    assert str(cat_path) in text
    view.write_text(text.replace(str(cat_path), named))
    assert store.record("raw").catalog == named  # the hand edit is in force
    store.refresh("raw")
    assert not marker.exists()
    assert len(versions("raw")) == 2


def test_a_step_whose_catalog_moved_is_still_refreshed(tmp_path, persist_dir):
    """Made from its record (its catalog file is gone), a step keeps the
    upstreams it had, as they are now."""
    write_csv(tmp_path / "a.csv", [("a", 1)])
    write_csv(tmp_path / "b.csv", [("b", 2)])
    cat_path = catalog(tmp_path, {"up": csv_entry("a.csv"), "report": csv_entry("b.csv", depends_on=["up"])})
    intake.open_catalog(str(cat_path)).report.read()
    before = store.record("report").built_from
    cat_path.rename(tmp_path / "moved.yaml")
    store.refresh("report")
    after = store.record("report")
    assert len(versions("report")) == 2 and set(after.built_from) == set(before)


def test_depends_on_across_two_catalog_files(tmp_path, persist_dir):
    write_csv(tmp_path / "a.csv", [("a", 1)])
    write_csv(tmp_path / "b.csv", [("b", 2)])
    (tmp_path / "other").mkdir()
    catalog(tmp_path / "other", {"upstream": csv_entry("../a.csv")}, "up.yaml")
    main = catalog(tmp_path, {"summary": csv_entry("b.csv", depends_on=["other/up.yaml:upstream"])})
    intake.open_catalog(str(main)).summary.read()
    rec = store.record("summary")
    (up_token,) = rec.built_from
    assert rec.built_from[up_token]["ref"] == "other/up.yaml:upstream"
    up = store.record(up_token)  # persisted first, through its own catalog's declared persist:
    assert up.original_name == "upstream" and up.catalog.endswith("up.yaml")
    expire()
    write_csv(tmp_path / "a.csv", [("a", 5)])  # only the upstream's file changes
    intake.open_catalog(str(main)).summary.read()
    assert len(versions("summary")) == 2 and len(store.versions(up_token)) == 2


def test_a_cycle_is_an_error_naming_its_entries(tmp_path, persist_dir):
    write_csv(tmp_path / "x.csv", [("a", 1)])
    cat_path = catalog(tmp_path, {
        "a": csv_entry("x.csv", depends_on=["b"]),
        "b": csv_entry("x.csv", depends_on=["c"]),
        "c": csv_entry("x.csv", depends_on=["a"]),
    })
    source = intake.open_catalog(str(cat_path)).a(persist_mode="never")
    with pytest.raises(PipelineError, match=r"cycle: a -> b -> c -> a"):
        store.refresh_train(source, original=source)
    with pytest.raises(PipelineError, match="cycle"):
        store.train_steps(source)
    with pytest.raises(PipelineError, match=r"cycle: a -> b -> c -> a"):
        source.persist()  # refused by a plain persist too, before anything is written
    assert len(store) == 0 and not [p for p in persist_dir.iterdir() if p.is_dir() and len(p.name) == 32]
    with pytest.warns(PersistWarning, match="cycle"):  # a catalog access serves the original
        assert intake.open_catalog(str(cat_path)).a.read().shape == (1, 2)


def test_a_missing_upstream_is_an_error_naming_it_and_who_needs_it(tmp_path, persist_dir):
    write_csv(tmp_path / "x.csv", [("a", 1)])
    cat_path = catalog(tmp_path, {"a": csv_entry("x.csv", depends_on=["nowhere"]),
                                  "d": transform("gone", "double")})
    cat = intake.open_catalog(str(cat_path))
    with pytest.raises(PipelineError, match=r"'a' needs 'nowhere', which is not an entry of"):
        cat.a(persist_mode="never").persist()
    with pytest.raises(PipelineError, match=r"'d' needs 'gone'"):
        store.refresh_train(cat.d(persist_mode="never"), original=cat.d(persist_mode="never"))
    assert len(store) == 0  # nothing half-persisted


def test_a_failing_step_stops_what_needs_it_not_the_independent_branch(tmp_path, persist_dir):
    """raw -> broken -> after; raw -> good. The broken step fails: 'after' is
    skipped, 'good' is refreshed, and the command exits non-zero with a table."""
    flag = tmp_path / "broken.flag"
    write_csv(tmp_path / "raw.csv", [("a", 1)])
    cat_path = catalog(tmp_path, {
        "raw": csv_entry("raw.csv"),
        "broken": transform("raw", "fail_if_flagged", flag=str(flag)),
        "after": transform("broken", "double"),
        "good": transform("raw", "double"),
    })
    cat = intake.open_catalog(str(cat_path))
    cat.after.read()
    cat.good.read()
    flag.write_text("on")
    write_csv(tmp_path / "raw.csv", [("a", 2)])
    outcomes = {o.step: o for o in store.refresh_train("raw", upstream=False, downstream=True)}
    assert outcomes["raw"].outcome == "refreshed" and outcomes["good"].outcome == "refreshed"
    assert outcomes["broken"].outcome == "failed" and "broken on purpose" in outcomes["broken"].error
    assert outcomes["after"].outcome == "skipped" and "broken" in outcomes["after"].error
    assert intake.open_catalog(str(cat_path)).good.read()["v2"].tolist() == [4]
    proc = cli("refresh", "raw", "--downstream", store_dir=persist_dir)
    assert proc.returncode == 1
    assert "[4/4]" in proc.stderr and "failed" in proc.stdout and "skipped" in proc.stdout
    flag.unlink()
    proc = cli("refresh", "raw", "--downstream", store_dir=persist_dir)
    assert proc.returncode == 0, proc.stderr


def cli(*args, store_dir, cwd=None, timeout=120):
    env = dict(os.environ, INTAKE_PERSIST_PATH=str(store_dir),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "intake_persistplus", *args], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=cwd)


def test_graph_shows_the_train(tmp_path, persist_dir):
    # an hour's ttl: a loaded machine may take seconds between the read and the command
    write_csv(tmp_path / "raw.csv", [("a", 1), ("b", 2), ("a", 3)])
    train = catalog(tmp_path, {"raw": csv_entry("raw.csv", ttl=3600),
                               "doubled": transform("raw", "double", ttl=3600),
                               "totals": transform("doubled", "total", ttl=3600)})
    intake.open_catalog(str(train)).totals.read()
    proc = cli("graph", "totals", store_dir=persist_dir)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["STEP", "VERSION", "AGE", "STATE"]
    assert lines[1].startswith("totals ") and "└── doubled" in lines[2] and "└── raw" in lines[3]
    assert all("fresh" in line for line in lines[1:])
    dot = cli("graph", "totals", "--dot", store_dir=persist_dir).stdout
    assert dot.startswith("digraph") and dot.count("->") == 2
    assert '[label="totals\\n' in dot  # a line break in dot, then the state
    down = cli("graph", "raw", "--downstream", "--json", store_dir=persist_dir).stdout
    assert yaml.safe_load(down)["downstream"][0]["downstream"][0]["name"] == "totals"


def test_schedule_once_refreshes_only_what_is_due(tmp_path, persist_dir):
    write_csv(tmp_path / "a.csv", [("a", 1)])
    write_csv(tmp_path / "b.csv", [("b", 1)])
    cat_path = catalog(tmp_path, {
        "every_2s": csv_entry("a.csv", ttl=None, schedule="* * * * * */2", revalidate=False),
        "yearly": csv_entry("b.csv", ttl=None, schedule="0 0 1 1 *"),
    })
    cat = intake.open_catalog(str(cat_path))
    cat.yearly.read()
    proc = cli("schedule", str(cat_path), "--once", store_dir=persist_dir)
    assert proc.returncode == 0, proc.stderr
    assert "every_2s: [1/1] every_2s: persisted" in proc.stdout and "yearly" not in proc.stdout
    assert len(versions("yearly")) == 1 and len(versions("every_2s")) == 1
    time.sleep(2.1)  # every_2s fired since; yearly did not
    proc = cli("schedule", str(cat_path), "--once", store_dir=persist_dir)
    assert "every_2s: [1/1] every_2s: refreshed" in proc.stdout and "yearly" not in proc.stdout
    assert len(versions("every_2s")) == 2 and len(versions("yearly")) == 1
    only_yearly = catalog(tmp_path, {"yearly": csv_entry("b.csv", ttl=None, schedule="0 0 1 1 *")}, "y.yaml")
    intake.open_catalog(str(only_yearly)).yearly.read()
    proc = cli("schedule", str(only_yearly), "--once", store_dir=persist_dir)
    assert proc.returncode == 0 and proc.stdout.strip() == "nothing is due", proc.stdout


def count(name: str) -> int:
    """Versions of the entry ``name`` (0 when it was never persisted)."""
    return len(store.versions(name)) if any(r.original_name == name for r in store.records().values()) else 0


def test_two_schedulers_never_refresh_one_source_twice(train, persist_dir):
    """Load: 2 `schedule --once` processes at the same time, 3 rounds, a train
    of 3 due each round: each step written once per round (0 duplicates).
    Each round's schedule fires once a minute, at a second just passed, so
    that both processes see the same firing however long they take to start."""
    duplicates = 0
    for round_ in range(3):
        second = (int(time.time()) + 2) % 60
        every = {"ttl": None, "schedule": f"* * * * * {second}"}
        catalog(train.parent, {"raw": csv_entry("raw.csv", **every),
                               "doubled": {**transform("raw", "double"), "metadata": {"persist": every}},
                               "totals": {**transform("doubled", "total"), "metadata": {"persist": every}}})
        write_csv(train.parent / "raw.csv", [("a", round_ + 1)])
        while int(time.time()) % 60 != (second + 1) % 60:  # the firing has just passed
            time.sleep(0.05)
        before = {n: count(n) for n in ("raw", "doubled", "totals")}
        procs = [subprocess.Popen([sys.executable, "-m", "intake_persistplus", "schedule", str(train), "--once"],
                                  env=dict(os.environ, INTAKE_PERSIST_PATH=str(persist_dir),
                                           PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        for n in ("raw", "doubled", "totals"):
            written = count(n) - before[n]
            duplicates += written - 1
            assert written == 1, (round_, n, outs)
    assert duplicates == 0


def test_the_scheduler_service_refreshes_when_due_and_stops_cleanly_on_sigterm(tmp_path, persist_dir):
    """The foreground service: a train due every 2 s is refreshed again and
    again (a step failing on the way does not stop it), then SIGTERM ends it
    with exit code 0 and a last line."""
    import signal

    flag = tmp_path / "broken.flag"
    write_csv(tmp_path / "a.csv", [("a", 1)])
    every = {"ttl": None, "schedule": "* * * * * */2", "revalidate": False}
    cat_path = catalog(tmp_path, {"a": csv_entry("a.csv", **every),
                                  "bad": {**transform("a", "fail_if_flagged", flag=str(flag)),
                                          "metadata": {"persist": every}}})
    flag.write_text("on")
    env = dict(os.environ, INTAKE_PERSIST_PATH=str(persist_dir),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "intake_persistplus", "schedule", str(cat_path)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and (count("a") < 3 or proc.poll() is not None):
            time.sleep(0.5)  # until the service has written a three times (every 2 s, once started)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.count("bad: [2/2] bad: failed") >= 2 and "broken on purpose" in out, out
    assert out.rstrip().endswith("intake-persist schedule: stopped")
    assert count("a") >= 3, out


def test_a_schedule_that_is_not_cron_is_refused_with_the_entry_named(tmp_path, persist_dir):
    write_csv(tmp_path / "a.csv", [("a", 1)])
    cat_path = catalog(tmp_path, {"a": csv_entry("a.csv", schedule="every monday"),
                                  "b": csv_entry("a.csv", ttl=None, schedule="0 0 1 1 *")})
    proc = cli("schedule", str(cat_path), "--once", store_dir=persist_dir)
    # the bad one is left out and named; the others run; the exit code says something was wrong
    assert proc.returncode == 1 and "left out" in proc.stderr and "schedule='every monday' is not a" in proc.stderr
    assert "entry 'a'" in proc.stderr and "b: [1/1] b: persisted" in proc.stdout
    only_bad = catalog(tmp_path, {"a": csv_entry("a.csv", schedule="every monday")}, "bad.yaml")
    proc = cli("schedule", str(only_bad), store_dir=persist_dir)  # the service does not start
    assert proc.returncode == 1 and "no entry" in proc.stderr and "every monday" in proc.stderr
    assert "refreshing the scheduled trains" not in proc.stdout


def test_a_first_persist_of_a_train_that_fails_warns_with_the_real_error(tmp_path, persist_dir):
    flag = tmp_path / "broken.flag"
    flag.write_text("on")
    write_csv(tmp_path / "raw.csv", [("a", 1)])
    cat_path = catalog(tmp_path, {"raw": csv_entry("raw.csv"),
                                  "broken": transform("raw", "fail_if_flagged", flag=str(flag))})
    with pytest.warns(PersistWarning, match="broken on purpose") as caught:
        with pytest.raises(RuntimeError, match="broken on purpose"):  # the original's own read fails too
            intake.open_catalog(str(cat_path)).broken.read()
    assert not any("NotPersistedError" in str(w.message) for w in caught)


@pytest.mark.slow
def test_a_train_on_a_local_cluster_with_the_s3_store(tmp_path, s3_env, s3_store):
    distributed = pytest.importorskip("distributed")
    write_csv(tmp_path / "raw.csv", [("a", 1), ("b", 2), ("a", 3)])
    cat_path = catalog(tmp_path, {"raw": csv_entry("raw.csv"), "doubled": transform("raw", "double"),
                                  "totals": transform("doubled", "total")})
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1", silence_logs=40) as cluster, distributed.Client(cluster):
        first = store.refresh_train(intake.open_catalog(str(cat_path)).totals(persist_mode="never"))
        assert [o.outcome for o in first] == ["persisted"] * 3
        write_csv(tmp_path / "raw.csv", [("c", 4)])
        again = store.refresh_train("totals")
        assert [(o.step, o.outcome) for o in again] == [
            ("raw", "refreshed"), ("doubled", "refreshed"), ("totals", "refreshed")]
        pd.testing.assert_frame_equal(intake.open_catalog(str(cat_path)).totals.read(),
                                      by_hand(tmp_path / "raw.csv"))
    assert store.path.startswith("s3://")
