"""Torture tests of the store's commit protocol: many writers, racing removals,
SIGKILL at random moments, a full disk, a stopped lock holder. Each states its
load and counts what was lost; the long ones are marked ``slow``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import intake
import pytest
import yaml

from intake_persistplus import IndexLockTimeout, PersistPathError, PersistStore
from intake_persistplus.index import Index
from intake_persistplus.layout import location

from .conftest import make_frame, write_catalog

WRITER = textwrap.dedent(
    """
    import sys, time, intake
    catalog, names, start, rounds = sys.argv[1], sys.argv[2].split(","), float(sys.argv[3]), int(sys.argv[4])
    cat = intake.open_catalog(catalog)
    sources = [cat[n](persist_mode="never") for n in names]
    while time.time() < start:
        time.sleep(0.005)
    for _ in range(rounds):
        for source in sources:
            source.persist()
    """
)


def sources_catalog(tmp_path, n):
    sources = {}
    for i in range(n):
        make_frame(30 + i, seed=i).to_csv(tmp_path / f"s{i}.csv", index=False)
        sources[f"s{i}"] = {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}" + f"s{i}.csv"}}
    sources["shared"] = {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}s0.csv"},
                         "description": "persisted by every writer"}
    return write_catalog(tmp_path, sources)


def run_writers(catalog, jobs, env, rounds):
    start = time.time() + 4.0  # every process has imported intake by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(catalog), ",".join(names), str(start), str(rounds)],
            env=dict(os.environ, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for names in jobs
    ]
    errors = []
    for p in procs:
        _, err = p.communicate(timeout=600)
        if p.returncode:
            errors.append(err[-2000:])
    assert not errors, errors


def lost_and_unreadable(url, catalog, names):
    """(lost entries, entries that cannot be read) of a store that should hold ``names``."""
    st = PersistStore(url)
    cat = intake.open_catalog(str(catalog))
    expected = {st.get_tok(cat[n](persist_mode="never")) for n in names}
    present = set(st)
    unreadable = [t for t in expected & present if st[t].read().shape[0] < 30]
    view = intake.open_catalog(st.path.rstrip("/") + "/cat.yaml")
    assert set(view) == present  # the view lists every entry, and only those
    return len(expected - present), len(unreadable)


@pytest.mark.slow
def test_sixteen_local_writers_three_rounds_lose_nothing(tmp_path):
    """16 processes x 3 rounds, each persisting its own source and one shared one."""
    catalog = sources_catalog(tmp_path, 16)
    url = str(tmp_path / "store")
    jobs = [[f"s{i}", "shared"] for i in range(16)]
    run_writers(catalog, jobs, {"INTAKE_PERSIST_PATH": url}, rounds=3)
    lost, unreadable = lost_and_unreadable(url, catalog, [f"s{i}" for i in range(16)] + ["shared"])
    assert (lost, unreadable) == (0, 0)
    doc = yaml.safe_load(open(os.path.join(url, "cat.yaml")))
    assert len(doc["sources"]) == 17
    assert os.listdir(os.path.join(url, ".journal")) == []  # all folded into the view


@pytest.mark.slow
def test_eight_s3_writers_three_rounds_lose_nothing(tmp_path, s3_bucket, s3_env):
    """8 processes x 3 rounds on the moto S3 server, own source and a shared one."""
    catalog = sources_catalog(tmp_path, 8)
    url = f"s3://{s3_bucket}/store"
    jobs = [[f"s{i}", "shared"] for i in range(8)]
    run_writers(catalog, jobs, {"INTAKE_PERSIST_PATH": url, **s3_env}, rounds=3)
    lost, unreadable = lost_and_unreadable(url, catalog, [f"s{i}" for i in range(8)] + ["shared"])
    assert (lost, unreadable) == (0, 0)


#: what racing processes share: they start together once all are ready
GO = textwrap.dedent(
    """
    import os, time
    def wait_for_go(path):
        while not os.path.exists(path):
            time.sleep(0.005)
        time.sleep(0.05)  # the end time is written
        return float(open(path).read())
    """
)

RACER = GO + textwrap.dedent(
    """
    import random, sys, time, warnings, intake
    from intake_persistplus import PersistStore, PersistError
    warnings.simplefilter("ignore")
    url, catalog, names, go, seed = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4], int(sys.argv[5])
    rng = random.Random(seed)
    st = PersistStore(url)
    cat = intake.open_catalog(catalog)
    st.records()  # every import and connection made before the race
    print("ready", flush=True)
    until = wait_for_go(go)
    while time.time() < until:
        op = rng.choice(["remove", "prune", "gc", "clear", "remove"])
        try:
            if op == "remove":
                st.remove(st.get_tok(cat[rng.choice(names)](persist_mode="never")))
            elif op == "prune":
                st.prune(keep=1)
            elif op == "gc":
                st.gc()
            else:
                st.clear()
        except PersistError as e:
            print(op, type(e).__name__, e, file=sys.stderr)
        time.sleep(0.05 + rng.random() * 0.2)
    """
)

LOOPER = GO + textwrap.dedent(
    """
    import sys, time, warnings, intake
    from intake_persistplus import PersistConflictError
    warnings.simplefilter("ignore")
    catalog, name, go = sys.argv[1], sys.argv[2], sys.argv[3]
    source = intake.open_catalog(catalog)[name](persist_mode="never")
    source.persist()  # every import and connection a persist makes, before the race
    print("ready", flush=True)
    until = wait_for_go(go)
    done = conflicts = 0
    while time.time() < until:
        try:
            source.persist()
            done += 1
        except PersistConflictError:
            conflicts += 1
    print(done, conflicts)
    """
)


def dangling(url) -> list[str]:
    """Entries (heads, and entries of the view) that name data which is not there."""
    loc = location(url)
    index = Index(loc)
    bad = []
    for token, record in index.records().items():
        if record.folder is not None and not loc.exists(*record.folder):
            bad.append(token)
    return bad


@pytest.mark.slow
@pytest.mark.parametrize("where", ["local", "s3"])
def test_writers_racing_remove_prune_gc_and_clear_leave_nothing_dangling(tmp_path, where, request):
    """4 writers persisting in a loop for 12 s while 2 racers remove, prune, gc and clear."""
    catalog = sources_catalog(tmp_path, 4)
    env = {}
    if where == "s3":
        s3_env = request.getfixturevalue("s3_env")
        url = f"s3://{request.getfixturevalue('s3_bucket')}/race"
        env.update(s3_env)
    else:
        url = str(tmp_path / "race")
    env["INTAKE_PERSIST_PATH"] = url
    go = tmp_path / "go"
    names = [f"s{i}" for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", LOOPER, str(catalog), n, str(go)],
                              env=dict(os.environ, **env), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for n in names]
    procs += [subprocess.Popen([sys.executable, "-c", RACER, url, str(catalog), ",".join(names),
                                str(go), str(seed)], env=dict(os.environ, **env),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for seed in (1, 2)]
    for p in procs:  # all imported, connected and warmed up: then 12 s of racing together
        line = p.stdout.readline()
        assert line == "ready\n", p.communicate(timeout=60)[1][-1500:]
    (tmp_path / "go.tmp").write_text(str(time.time() + 12.0))
    os.replace(tmp_path / "go.tmp", go)
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-1500:] for o in outs]
    done = [tuple(map(int, o[0].split())) for o in outs[:4]]
    assert sum(d for d, _ in done) >= 4 and sum(d + c for d, c in done) > 8, done  # it really raced
    assert dangling(url) == []
    st = PersistStore(url)
    for token in st:
        assert st[token].read().shape[0] >= 30  # every entry left is readable


KILL_OPS = ("persist", "persist", "refresh", "remove", "prune", "compact", "gc")


def _child(url: str, catalog: str, seed: int) -> None:
    """Run store operations in a loop until killed (in a forked child)."""
    import dask

    dask.config.set(scheduler="synchronous")  # the parent's thread pool is not ours
    warnings.simplefilter("ignore")
    rng = random.Random(seed)
    st = PersistStore(url)
    cat = intake.open_catalog(catalog)
    names = ["s0", "s1", "s2"]
    while True:
        op = rng.choice(KILL_OPS)
        source = cat[rng.choice(names)](persist_mode="never")
        try:
            if op == "persist":
                source.persist(keep=2)
            elif op == "refresh" and source.has_been_persisted:
                st.refresh(source)
            elif op == "remove":
                st.remove(st.get_tok(source))
            elif op == "prune":
                st.prune(keep=1)
            elif op == "compact":
                st.compact()
            elif op == "gc":
                st.gc()
        except Exception:
            pass


@pytest.mark.slow
def test_a_hundred_sigkills_at_random_moments(tmp_path, monkeypatch):
    """100 SIGKILLs of a process doing persist, refresh, remove, prune, compaction
    and gc: after each, 0 entries name missing data, the view parses, every entry
    reads; every tenth kill, a persist in another process works."""
    catalog = str(sources_catalog(tmp_path, 3))
    url = str(tmp_path / "killed")
    monkeypatch.setitem(intake.conf, "persist_path", url)  # the forked child's too
    st = PersistStore(url)
    cat = intake.open_catalog(catalog)
    for name in ("s0", "s1", "s2"):
        cat[name](persist_mode="never").persist()
    assert len(st) == 3
    rng = random.Random(12345)
    kills = bad_entries = unreadable = entries_seen = 0
    for round_ in range(100):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            try:
                _child(url, catalog, round_)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.02, 0.6))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        kills += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bad_entries += len(dangling(url))
            yaml.safe_load(open(os.path.join(url, "cat.yaml")))  # valid YAML at every moment
            for token in PersistStore(url):
                entries_seen += 1
                try:
                    PersistStore(url)[token].read()
                except Exception:
                    unreadable += 1
            if round_ % 10 == 9:
                name = rng.choice(["s0", "s1", "s2"])
                copy = cat[name](persist_mode="never").persist()
                assert copy.read().shape[0] >= 30
    assert (kills, bad_entries, unreadable) == (100, 0, 0)
    assert entries_seen > 50  # the checks above looked at real entries
    assert st.gc() is not None and dangling(url) == []


def _mount_tmpfs(path, size: str) -> bool:
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


def test_a_full_disk_loses_nothing_and_says_so(tmp_path, monkeypatch):
    """A 3 MiB tmpfs store: one small source fits, a big one cannot."""
    mount = tmp_path / "small"
    if not _mount_tmpfs(mount, "3m"):
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        url = str(mount / "store")
        monkeypatch.setitem(intake.conf, "persist_path", url)
        make_frame(50).to_csv(tmp_path / "small.csv", index=False)
        import numpy as np
        import pandas as pd

        big = pd.DataFrame(np.random.default_rng(1).random((300_000, 2)), columns=["a", "b"])
        big.to_csv(tmp_path / "big.csv", index=False)  # 4.8 MB of doubles that do not compress
        catalog = write_catalog(tmp_path, {
            "small": {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}small.csv"}},
            "big": {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}big.csv"}},
        })
        cat = intake.open_catalog(str(catalog))
        cat.small(persist_mode="never").persist()
        with pytest.raises(PersistPathError, match="No space left on device") as info:
            cat.big(persist_mode="never").persist()
        assert url in str(info.value)
        st = PersistStore(url)
        assert len(st) == 1 and st[next(iter(st))].read().shape[0] == 50  # nothing lost
        assert dangling(url) == []
        assert cat.big.read().shape[0] == 300_000  # the original is served
        cat.small(persist_mode="never").persist()  # and the store still works
        assert len(st.versions(next(iter(st)))) == 2
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


HOLDER = textwrap.dedent(
    """
    import sys, time
    from intake_persistplus.index import Index
    from intake_persistplus.layout import location
    with Index(location(sys.argv[1])).locked(sys.argv[2]):
        print("locked", flush=True)
        time.sleep(600)
    """
)


def test_a_stopped_lock_holder_blocks_others_only_for_a_while(tmp_path, monkeypatch, csv_catalog):
    url = str(tmp_path / "store")
    monkeypatch.setitem(intake.conf, "persist_path", url)
    monkeypatch.setitem(intake.conf, "persist_lock_timeout", 1.5)
    source = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
    source.persist()
    token = PersistStore(url).get_tok(source)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url, token], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        os.kill(holder.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        with pytest.raises(IndexLockTimeout, match=f"pid {holder.pid}.*persist_lock_timeout"):
            source.persist()
        assert 1.4 < time.monotonic() - t0 < 10
        assert intake.open_catalog(str(csv_catalog)).csvsource.read().shape == (200, 4)  # reads go on
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    source.persist()  # the holder is gone: its lock with it
    assert len(PersistStore(url).versions(token)) == 2


def test_a_copy_whose_data_is_gone_is_never_handed_out(tmp_path, monkeypatch, csv_catalog):
    from intake_persistplus import PersistWarning

    url = str(tmp_path / "store")
    monkeypatch.setitem(intake.conf, "persist_path", url)
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource(persist_mode="never").persist()
    cat.csvsource(persist_mode="never").persist()
    st = PersistStore(url)
    token = next(iter(st))
    older, newer = (v.version for v in st.versions(token))
    import shutil

    shutil.rmtree(os.path.join(url, token, newer))  # someone deleted the served version
    with pytest.warns(PersistWarning, match="missing.*serving the original"):
        source = cat.csvsource
    assert not source.is_persisted and source.read().shape == (200, 4)
    assert st.record(token).version == older  # repaired: the newest complete version
    assert cat.csvsource.read().shape == (200, 4) and cat.csvsource.is_persisted
    shutil.rmtree(os.path.join(url, token, older))
    with pytest.warns(PersistWarning, match="missing"):
        assert not cat.csvsource.is_persisted
    assert token not in st and dangling(url) == []


def test_a_hand_edit_cannot_make_retention_delete_the_served_version(tmp_path, monkeypatch, csv_catalog):
    url = str(tmp_path / "store")
    monkeypatch.setitem(intake.conf, "persist_path", url)
    cat = intake.open_catalog(str(csv_catalog))
    for _ in range(3):
        cat.csvsource(persist_mode="never").persist()
    st = PersistStore(url)
    token = next(iter(st))
    served = st.record(token).version
    # the last: the served id and a line break (JSON "\\n"), which "^...$" would let through
    for bad in ("../x", "..", "/etc", "20200101T000000.000000Z-abcdef", served + "\\n"):
        text = open(os.path.join(url, "cat.yaml")).read()
        current = PersistStore(url).record(token).version
        with open(os.path.join(url, "cat.yaml"), "w") as f:
            f.write(text.replace(f'"persist_version": "{current}"', f'"persist_version": "{bad}"'))
        PersistStore(url).prune(keep=1)
        PersistStore(url).gc()
        assert os.path.isdir(os.path.join(url, token, served)), bad
        assert cat.csvsource.read().shape == (200, 4) and cat.csvsource.is_persisted
    assert sorted(os.listdir(tmp_path)) == sorted(["store", "data"])  # nothing outside touched
