"""A copy persisted after the source was used is served by every later access
of the same entry with the same parameters (issue 13, item 2).

intake changes a source object when it is first used: ``discover()`` and
``read()`` merge the schema's ``extra_metadata`` (intake-parquet: the file's
key-value metadata) into the very ``metadata`` dict the catalog entry passed,
a derived source's first read sets ``metadata["target"]``, an alias takes its
target's description. Each test uses a source that way around ``persist()``,
then opens the catalog again, as a user does, here and in a fresh process,
and checks that the copy is what it gets: after the copy is made, the
original's files are rewritten behind the store's back, so only the copy
still has the old rows.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import intake
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from intake_persistplus import store

from .conftest import run_python

ROWS = pd.DataFrame({"score": [1.5, 2.5, 3.5, 4.5], "rank": [4, 3, 2, 1], "name": list("abcd")})
LATER = pd.DataFrame({"score": [9.5], "rank": [9], "name": ["z"]})  # only a re-read shows it

CATALOG = """\
sources:
  table:
    description: a parquet file with its own metadata
    driver: parquet
    args: {urlpath: '{{ CATALOG_DIR }}/table.parquet'}
  scores:
    driver: csv
    args: {urlpath: '{{ CATALOG_DIR }}/scores.csv'}
    metadata: {origin: tests}
  top:
    driver: intake.source.derived.Columns
    args: {targets: [scores], columns: [score, rank]}
  same:
    description: an alias of scores
    driver: intake.source.derived.AliasSource
    args: {target: scores}
  part:
    driver: parquet
    parameters:
      which: {type: str, default: table, description: which file}
    args: {urlpath: '{{ CATALOG_DIR }}/{{ which }}.parquet'}
"""


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """A parquet file whose schema metadata intake-parquet puts in ``extra_metadata``."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"owner": b"data team"}), path)


def write_data(folder: Path, frame: pd.DataFrame) -> None:
    write_parquet(folder / "table.parquet", frame)
    write_parquet(folder / "other.parquet", frame.iloc[:2])
    frame.to_csv(folder / "scores.csv", index=False)


@pytest.fixture
def catalog(tmp_path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    write_data(folder, ROWS)
    path = folder / "catalog.yaml"
    path.write_text(CATALOG)
    return path


def behind_the_stores_back(catalog: Path) -> None:
    write_data(catalog.parent, LATER)


def access(catalog: Path, name: str, **params):
    """``intake.open_catalog(...).name`` (called with ``params`` if any): a fresh access."""
    entry = getattr(intake.open_catalog(str(catalog)), name)
    return entry(**params) if params else entry


def in_a_fresh_process(catalog: Path, persist_dir: Path, name: str, **params) -> str:
    """What a fresh Python process gets from the same access: "<is_persisted> <rows>"."""
    call = f"({', '.join(f'{k}={v!r}' for k, v in params.items())})" if params else ""
    return run_python(
        textwrap.dedent(f"""
            import warnings
            import intake
            warnings.simplefilter("ignore")
            s = intake.open_catalog({str(catalog)!r}).{name}{call}
            print(s.is_persisted, len(s.read()))
        """),
        env={"INTAKE_PERSIST_PATH": str(persist_dir)},
    ).stdout.split()


def use(source, how: str) -> None:
    if how == "discover":
        source.discover()
    else:
        source.read()


# intake's Columns fails in discover() itself (its schema has no extra_metadata); an
# alias has no container until it is read, so neither can be persisted unread
USES = [("table", "discover"), ("table", "read"), ("scores", "discover"), ("scores", "read"),
        ("top", "read"), ("same", "read")]


@pytest.mark.parametrize(("name", "how"), USES, ids=[f"{n}-{h}" for n, h in USES])
def test_a_copy_persisted_after_a_first_use_is_served(catalog, persist_dir, name, how):
    source = access(catalog, name)
    use(source, how)
    source.persist()
    behind_the_stores_back(catalog)

    served = access(catalog, name)
    assert served.is_persisted
    assert len(served.read()) == len(ROWS)  # the copy: a re-read has one row
    assert in_a_fresh_process(catalog, persist_dir, name) == ["True", str(len(ROWS))]
    assert list(store) == [store.get_tok(access(catalog, name, persist_mode="never"))]
    assert store.record(list(store)[0]).rekeys == 0  # found where it was put, not moved


@pytest.mark.parametrize(("name", "how"), USES, ids=[f"{n}-{h}" for n, h in USES])
def test_a_first_use_after_the_persist_leaves_the_copy_served(catalog, persist_dir, name, how):
    first = access(catalog, name)
    if name == "same":
        first.read()
    first.persist()
    behind_the_stores_back(catalog)
    use(access(catalog, name), how)  # the copy
    original = access(catalog, name, persist_mode="never")
    use(original, how)  # and the original (its data now differs)
    assert store.get_tok(original) == list(store)[0]

    again = access(catalog, name)
    assert again.is_persisted and len(again.read()) == len(ROWS)
    assert in_a_fresh_process(catalog, persist_dir, name) == ["True", str(len(ROWS))]
    assert len(store) == 1 and len(store.versions(list(store)[0])) == 1  # nothing persisted again


def test_a_copy_persisted_after_a_first_use_with_parameters(catalog, persist_dir):
    source = access(catalog, "part", which="other")
    source.discover()
    source.persist()
    behind_the_stores_back(catalog)

    served = access(catalog, "part", which="other")
    assert served.is_persisted and len(served.read()) == 2
    assert in_a_fresh_process(catalog, persist_dir, "part", which="other") == ["True", "2"]
    assert not access(catalog, "part").is_persisted  # other parameters: another source
    assert not access(catalog, "part", which="table").is_persisted


def test_the_catalog_read_without_persistence_then_used_then_persisted(catalog, persist_dir):
    source = intake.open_catalog(str(catalog), persist_mode="never").table
    source.discover()
    source.persist()
    behind_the_stores_back(catalog)

    served = access(catalog, "table")
    assert served.is_persisted and len(served.read()) == len(ROWS)
    assert store.record(served).rekeys == 0


def test_a_source_made_in_code_then_discovered(catalog, persist_dir):
    path = str(catalog.parent / "table.parquet")
    source = intake.open_parquet(path)
    source.discover()
    assert "owner" in source.metadata  # what discover() merged
    source.persist()
    behind_the_stores_back(catalog)

    later = intake.open_parquet(path)
    assert later.has_been_persisted
    assert len(later.get_persisted().read()) == len(ROWS)


def test_a_refresh_writes_under_the_same_token(catalog, persist_dir):
    source = access(catalog, "table")
    source.discover()
    copy = source.persist()
    token = copy.metadata["original_tok"]
    assert store.get_tok(store.backtrack(copy)) == token  # the record makes the same source
    assert "owner" not in copy.metadata["original_metadata"]  # as made, not as discovered
    behind_the_stores_back(catalog)

    store.refresh(token)
    assert list(store) == [token] and len(store.versions(token)) == 2
    served = access(catalog, "table")
    assert served.is_persisted and len(served.read()) == len(LATER)  # the refreshed copy


def test_a_derived_source_records_the_upstream_a_fresh_access_finds(catalog, persist_dir):
    scores = access(catalog, "scores")
    scores.read()
    scores.persist()
    top = access(catalog, "top")
    top.read()  # reads its target through the catalog: the copy of scores
    top.persist()

    upstream = store.get_tok(access(catalog, "scores", persist_mode="never"))
    record = store.record(access(catalog, "top", persist_mode="never"))
    assert list(record.built_from) == [upstream]
    tree = store.dependencies(access(catalog, "top", persist_mode="never"))
    assert [(u["token"], u["state"]) for u in tree["upstream"]] == [(upstream, "fresh")]
    assert access(catalog, "top").is_persisted
    assert sorted(store) == sorted([upstream, record.token])


def test_pickling_a_used_source_keeps_its_token(catalog, persist_dir):
    import pickle

    source = access(catalog, "table")
    before = pickle.loads(pickle.dumps(source))
    source.discover()
    after = pickle.loads(pickle.dumps(source))
    assert store.get_tok(after) == store.get_tok(before)
    assert "owner" not in after.metadata  # made again from its arguments as they were


# -- copies an earlier version stored under the changed token ------------------------------------
OLD = Path(__file__).parent / "data" / "store-drift"
OLD_PREFIX = Path("/tmp/persistplus-drift")


@pytest.fixture
def old_copies(persist_dir):
    """tests/data/store-drift (see its README) as the configured store; its catalog
    back where it was (tokens hash the catalog's folder)."""
    if OLD_PREFIX.exists():
        if not (OLD_PREFIX / "ours").exists():
            pytest.skip(f"{OLD_PREFIX} exists and is not ours")
        shutil.rmtree(OLD_PREFIX)
    OLD_PREFIX.mkdir()
    (OLD_PREFIX / "ours").touch()
    shutil.copytree(OLD / "data", OLD_PREFIX / "data")
    shutil.copytree(OLD / "store", persist_dir)
    yield OLD_PREFIX / "data" / "catalog.yaml"
    shutil.rmtree(OLD_PREFIX, ignore_errors=True)


@pytest.mark.parametrize("name", ["table", "top"])
def test_a_copy_stored_under_the_changed_token_by_an_earlier_version_is_found(old_copies, persist_dir, name):
    old_token = {"table": "4021656e195cdfe4048f96a109ff5741", "top": "a75353febb1567d32a8dc678180aba79"}[name]
    assert old_token in store
    expected = {"table": 3, "top": 3}[name]
    pd.DataFrame({"score": [0.5], "rank": [0], "name": ["x"]}).to_csv(
        old_copies.parent / "scores.csv", index=False)  # behind the store's back
    write_parquet(old_copies.parent / "table.parquet", LATER)

    served = access(old_copies, name)
    assert served.is_persisted and len(served.read()) == expected  # the old copy
    token = store.get_tok(access(old_copies, name, persist_mode="never"))
    assert token != old_token and token in store and old_token not in store
    assert store.record(token).rekeys == 1
    assert not (persist_dir / old_token).exists()
    assert in_a_fresh_process(old_copies, persist_dir, name) == ["True", str(expected)]
