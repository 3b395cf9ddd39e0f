"""An expired copy whose original is unchanged becomes fresh again without a
read (revalidation, as an HTTP cache does with an ETag); a changed original is
read again. Through ``intake.open_catalog`` on real files, and on the moto S3
server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings

import intake
import pytest
import yaml

from intake_persistplus import PersistSettingError, PersistWarning, store

from .conftest import make_frame

TTL = 1


def access(catalog):
    return intake.open_catalog(str(catalog)).csvsource


def versions(catalog) -> list[str]:
    return [v.version for v in store.versions(access(catalog)(persist_mode="never"))]


def expire() -> None:
    time.sleep(TTL + 0.1)


def rewrite_original(catalog, rows: int = 50) -> None:
    make_frame(rows, seed=rows).to_csv(catalog.parent / "table.csv", index=False)


def test_an_unchanged_original_makes_the_expired_copy_fresh_again(csv_catalog, persist_dir):
    access(csv_catalog).persist(ttl=TTL)
    (first,) = versions(csv_catalog)
    rec = store.record(access(csv_catalog)(persist_mode="never"))
    assert rec.fingerprint is not None and rec.checked is None
    expire()
    assert rec.expired()
    source = access(csv_catalog)
    assert source.read().shape == (200, 4)
    assert versions(csv_catalog) == [first]  # no new version: nothing was read again
    after = store.record(source)
    assert after.checked is not None and after.checked > rec.timestamp + TTL and not after.expired()
    assert access(csv_catalog).is_persisted and not access(csv_catalog).__dict__.get("_pp_action")


def test_a_changed_original_is_read_again(csv_catalog, persist_dir):
    access(csv_catalog).persist(ttl=TTL)
    (first,) = versions(csv_catalog)
    expire()
    rewrite_original(csv_catalog, 50)
    assert access(csv_catalog).read().shape == (50, 4)
    assert len(versions(csv_catalog)) == 2 and versions(csv_catalog)[0] == first


def test_the_same_size_rewritten_is_a_change(csv_catalog, persist_dir):
    """A file rewritten with the same size within the same second still counts
    as changed (its status-change time and inode are in the fingerprint)."""
    access(csv_catalog).persist(ttl=TTL)
    path = csv_catalog.parent / "table.csv"
    text = path.read_text()
    stat = os.stat(path)
    expire()
    swapped = text.replace("a", "b", 1)
    assert len(swapped) == len(text) and swapped != text
    path.write_text(swapped)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the old modification time
    access(csv_catalog).read()
    assert len(versions(csv_catalog)) == 2


def test_revalidate_false_always_reads_again(csv_catalog, persist_dir):
    access(csv_catalog).persist(ttl=TTL, revalidate=False)
    assert store.record(access(csv_catalog)(persist_mode="never")).fingerprint is None
    expire()
    access(csv_catalog).read()
    assert len(versions(csv_catalog)) == 2


def test_on_access_checks_every_access_and_has_no_ttl(csv_catalog, persist_dir):
    access(csv_catalog).persist(ttl=3600, revalidate="on-access")
    rec = store.record(access(csv_catalog)(persist_mode="never"))
    assert rec.ttl is None and rec.revalidate == "on-access"
    for _ in range(3):
        source = access(csv_catalog)
        assert source.read().shape == (200, 4)
    assert len(versions(csv_catalog)) == 1
    assert store.record(source).checked is None  # nothing written per access
    rewrite_original(csv_catalog, 70)
    assert access(csv_catalog).read().shape == (70, 4)  # the very next access sees the change
    assert len(versions(csv_catalog)) == 2


def test_the_catalog_declares_the_policy(csv_catalog, persist_dir):
    doc = yaml.safe_load(csv_catalog.read_text())
    doc["sources"]["csvsource"]["metadata"]["persist"] = {"ttl": TTL, "revalidate": False}
    csv_catalog.write_text(yaml.safe_dump(doc))
    access(csv_catalog).read()  # the first access persists, as declared
    rec = store.record(access(csv_catalog)(persist_mode="never"))
    assert rec.revalidate is False and rec.ttl == TTL
    doc["sources"]["csvsource"]["metadata"]["persist"] = {"ttl": TTL, "revalidate": "sometimes"}
    csv_catalog.write_text(yaml.safe_dump(doc))
    with pytest.raises(PersistSettingError, match="revalidate.*'sometimes'.*on-access"):
        access(csv_catalog).read()  # reported when data is asked for
    with pytest.raises(PersistSettingError, match="revalidate=2"):
        access(csv_catalog)(persist_mode="never").persist(revalidate=2)


def test_an_original_that_is_gone_serves_the_expired_copy(csv_catalog, persist_dir):
    access(csv_catalog).persist(ttl=TTL)
    expire()
    (csv_catalog.parent / "table.csv").unlink()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert access(csv_catalog).read().shape == (200, 4)
    assert any("serving the expired copy" in str(w.message) for w in seen
               if issubclass(w.category, PersistWarning))
    assert len(versions(csv_catalog)) == 1


def test_refresh_expired_revalidates_first(csv_catalog, persist_dir):
    access(csv_catalog).persist(ttl=TTL)
    expire()
    env = dict(os.environ, INTAKE_PERSIST_PATH=str(persist_dir))
    run = [sys.executable, "-m", "intake_persistplus"]
    out = subprocess.run([*run, "refresh", "--expired"], capture_output=True, text=True,
                         env=env, timeout=120, check=True).stdout
    assert "revalidated" in out and "original is unchanged" in out
    assert len(versions(csv_catalog)) == 1
    listed = subprocess.run([*run, "list"], capture_output=True, text=True, env=env,
                            timeout=120, check=True).stdout
    header, row = listed.strip().splitlines()
    assert "CHECKED" in header.split() and row.split()[-1] == "fresh"
    expire()
    rewrite_original(csv_catalog)
    out = subprocess.run([*run, "refresh", "--expired"], capture_output=True, text=True,
                         env=env, timeout=120, check=True).stdout
    assert "refreshed" in out and len(versions(csv_catalog)) == 2


def test_an_original_on_s3(tmp_path, s3_store, s3_bucket, s3_env):
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_env["FSSPEC_S3_ENDPOINT_URL"])
    fs.pipe(f"{s3_bucket}/originals/a.csv", make_frame(30).to_csv(index=False).encode())
    fs.pipe(f"{s3_bucket}/originals/b.csv", make_frame(40).to_csv(index=False).encode())
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({"sources": {"csvsource": {
        "driver": "csv", "args": {"urlpath": f"s3://{s3_bucket}/originals/*.csv"}}}}))
    access(catalog).persist(ttl=TTL)
    expire()
    assert access(catalog).read().shape == (70, 4)
    assert len(versions(catalog)) == 1  # revalidated by ETag
    expire()
    fs.pipe(f"{s3_bucket}/originals/b.csv", make_frame(45).to_csv(index=False).encode())
    assert access(catalog).read().shape == (75, 4)
    assert len(versions(catalog)) == 2
