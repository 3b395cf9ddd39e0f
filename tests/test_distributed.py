"""With a dask.distributed client active, persisting runs on the cluster's workers."""

from __future__ import annotations

import intake
import pandas as pd
import pytest

from intake_persistplus import store

from .conftest import make_frame, write_catalog

distributed = pytest.importorskip("distributed")


@pytest.fixture
def cluster_client(s3_env):
    from distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        host="127.0.0.1", silence_logs=40,
    ) as cluster, Client(cluster) as client:
        yield client


@pytest.mark.slow
def test_partitions_are_written_by_the_workers_straight_to_s3(cluster_client, s3_store, tmp_path):
    make_frame(4000).to_csv(tmp_path / "big.csv", index=False)
    catalog = write_catalog(
        tmp_path,
        {"big": {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}big.csv", "blocksize": 30000}}},
    )
    original = intake.open_catalog(str(catalog)).big(persist_mode="never")
    nparts = original.to_dask().npartitions
    assert nparts >= 4

    from distributed import get_task_stream

    with get_task_stream(client=cluster_client) as stream:
        persisted = original.persist()
    # a CSV is written block by block by pyarrow (containers/csvfast.py), on the workers;
    # before pandas 3 (float columns) partition by partition, also on the workers
    task = "write_block" if pd.__version__ >= "3" else "_write_part"
    writes = [t for t in stream.data if str(t["key"]).startswith(task)]
    assert {t["worker"] for t in writes} == set(cluster_client.scheduler_info()["workers"])  # both wrote
    assert len(writes) == nparts

    assert persisted._urlpath.startswith(s3_store)
    assert persisted.to_dask().npartitions == nparts
    pd.testing.assert_frame_equal(
        persisted.to_dask().compute(), original.to_dask().compute()
    )
    assert store.record(original).version == persisted.metadata["persist_version"]
