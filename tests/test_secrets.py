"""Credentials in storage_options are never written to the store."""

from __future__ import annotations

import intake
import pandas as pd

from intake_persistplus import store
from intake_persistplus.secrets import scrub

from .conftest import make_frame, write_catalog

SECRETS = ("AKIDEXAMPLEKEY0001", "wJalrXUtnFEMIsecretEXAMPLE", "SESSIONTOKENEXAMPLE42")


def test_scrub_drops_credentials_at_any_depth():
    state = {
        "kwargs": {
            "urlpath": "s3://b/x.csv",
            "storage_options": {
                "key": "k", "secret": "s", "anon": False, "token": "t",
                "client_kwargs": {"endpoint_url": "http://e", "aws_secret_access_key": "s2",
                                  "aws_session_token": "t2", "region_name": "r"},
                "config_kwargs": {"signature_version": "s3v4"},
                "password": "p", "account_key": "a", "sas_token": "x", "connection_string": "c",
                "headers": {"Authorization": "Bearer z"},
            },
            "nested": {"deeper": {"target_storage_options": {"secret": "s3"}}},
        }
    }
    clean = scrub(state)
    so = clean["kwargs"]["storage_options"]
    assert so == {
        "anon": False,
        "client_kwargs": {"endpoint_url": "http://e", "region_name": "r"},
        "config_kwargs": {"signature_version": "s3v4"},
        "headers": {},
    }
    assert clean["kwargs"]["nested"]["deeper"]["target_storage_options"] == {}
    assert clean["kwargs"]["urlpath"] == "s3://b/x.csv"


def test_no_credential_reaches_the_store_and_refresh_still_works(s3_bucket, s3_env, tmp_path, monkeypatch):
    import s3fs

    fs = s3fs.S3FileSystem()
    fs.pipe_file(f"{s3_bucket}/data/t.csv", make_frame(25).to_csv(index=False).encode())
    store_url = f"s3://{s3_bucket}/persisted"
    monkeypatch.setitem(intake.conf, "persist_path", store_url)
    options = {"key": SECRETS[0], "secret": SECRETS[1], "token": SECRETS[2],
               "endpoint_url": s3_env["FSSPEC_S3_ENDPOINT_URL"]}
    catalog = write_catalog(
        tmp_path,
        {"remote": {"driver": "csv", "args": {"urlpath": f"s3://{s3_bucket}/data/t.csv", "storage_options": options},
                    "metadata": {"persist": {"ttl": 0, "revalidate": False}}}},
    )
    cat = intake.open_catalog(str(catalog))
    expected = cat.remote(persist_mode="never").read()
    pd.testing.assert_frame_equal(cat.remote.read(), expected)  # declared: persisted on read
    first = store.record(cat.remote(persist_mode="never")).version
    pd.testing.assert_frame_equal(cat.remote.read(), expected)  # ttl 0: refreshed via the entry
    assert store.record(cat.remote(persist_mode="never")).version != first

    paths = fs.find(f"{s3_bucket}/persisted")
    blobs = [fs.cat_file(p) for p in paths]
    assert sum(p.endswith("/record.yaml") for p in paths) == 2  # two versions, their data,
    assert sum(p.endswith(".parquet") for p in paths) == 2  # a head, the view: all checked
    assert sum("/.heads/" in p for p in paths) == 1
    for secret in SECRETS:
        assert not any(secret.encode() in b for b in blobs), secret
    recorded = store.record(cat.remote(persist_mode="never")).original_source["kwargs"]["storage_options"]
    assert recorded == {"endpoint_url": s3_env["FSSPEC_S3_ENDPOINT_URL"]}


def test_urls_lose_passwords_and_signatures():
    from intake_persistplus.secrets import scrub_url

    assert scrub_url("https://alice:pw@example.com/x.csv") == "https://example.com/x.csv"
    assert scrub_url("s3://bucket/key.csv") == "s3://bucket/key.csv"
    signed = "https://b.s3.amazonaws.com/k?X-Amz-Signature=abc&X-Amz-Credential=c&versionId=3"
    assert scrub_url(signed) == "https://b.s3.amazonaws.com/k?versionId=3"
    assert scrub_url("https://acct.blob.core.windows.net/c/f?sv=1&sig=SECRET&se=2") == (
        "https://acct.blob.core.windows.net/c/f"
    )
    assert scrub({"urlpath": "https://u:p@h/x", "cookies": {"session": "s"}}) == {"urlpath": "https://h/x", "cookies": {"session": "s"}}
    assert scrub({"storage_options": {"client_kwargs": {"cookies": {"a": 1}}, "headers": {"Cookie": "c", "Accept": "x"}}}) == {
        "storage_options": {"client_kwargs": {}, "headers": {"Accept": "x"}}
    }


def test_positional_storage_options_are_scrubbed(tmp_path, persist_dir):
    from intake.source.csv import CSVSource

    (tmp_path / "t.csv").write_text(make_frame(5).to_csv(index=False))
    source = CSVSource(str(tmp_path / "t.csv"), {"key": SECRETS[0], "secret": SECRETS[1]})
    from intake_persistplus.originals import source_state

    state = source_state(source)
    assert state["args"][0] == str(tmp_path / "t.csv")
    assert state["args"][1] == {}
    assert SECRETS[0] not in repr(state) and SECRETS[1] not in repr(state)


#: every secret spelling tried: (storage_options key, value); each value is unique
SPELLINGS = [
    ("tok", "SECRET-tok-0001"), ("accessToken", "SECRET-accessToken-0002"),
    ("apiToken", "SECRET-apiToken-0003"), ("bearer", "SECRET-bearer-0004"),
    ("pass", "SECRET-pass-0005"), ("pw", "SECRET-pw-0006"), ("pwd", "SECRET-pwd-0007"),
    ("AWS_SECRET_ACCESS_KEY", "SECRET-aws-0008"), ("x-api-key", "SECRET-xapikey-0009"),
    ("sessionCredentials", "SECRET-session-0010"), ("auth", "SECRET-auth-0011"),
    ("client_secret", "SECRET-client-0012"), ("Cookie", "SECRET-cookie-0013"),
    ("sasToken", "SECRET-sas-0014"), ("privateKey", "SECRET-pk-0015"),
]
URL_SECRETS = ("SECRET-chainpw-0016", "SECRET-querypw-0017")


def test_no_spelling_of_a_secret_is_written_shown_or_logged(tmp_path, persist_dir, caplog):
    """Store files, export text, CLI output and logs hold none of the secrets."""
    import logging
    import subprocess
    import sys

    make_frame(30).to_csv(tmp_path / "t.csv", index=False)
    options = dict(SPELLINGS)
    catalog = write_catalog(tmp_path, {"t": {
        "driver": "csv",
        "args": {"urlpath": "{{ CATALOG_DIR }}/t.csv", "storage_options": options},
        "metadata": {
            "mirror": f"simplecache::https://user:{URL_SECRETS[0]}@example.invalid/t.csv",
            "signed": f"https://example.invalid/t.csv?pw={URL_SECRETS[1]}&x=1",
        },
    }})
    secrets = [v for _, v in SPELLINGS] + list(URL_SECRETS)
    caplog.set_level(logging.DEBUG)
    cat = intake.open_catalog(str(catalog))
    original = cat.t(persist_mode="never")
    original.persist()
    exported = cat.t.export(str(tmp_path / "exported"))
    proc = subprocess.run(
        [sys.executable, "-m", "intake_persistplus", "info", "t", "--json"],
        capture_output=True, text=True, env={**__import__("os").environ, "INTAKE_PERSIST_PATH": str(persist_dir)},
    )
    seen = {
        "store": b"".join(p.read_bytes() for p in persist_dir.rglob("*") if p.is_file()).decode("latin-1"),
        "export": exported,
        "cli": proc.stdout + proc.stderr,
        "logs": caplog.text,
    }
    assert proc.returncode == 0, proc.stderr
    for where, text in seen.items():
        leaked = [s for s in secrets if s in text]
        assert leaked == [], f"{where} holds {leaked}"
    record = store.record(original)
    assert record.original_source["kwargs"]["storage_options"] == {}
    assert record.original_metadata["mirror"] == "simplecache::https://example.invalid/t.csv"
    assert record.original_metadata["signed"] == "https://example.invalid/t.csv?x=1"
