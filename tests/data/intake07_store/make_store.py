"""Have intake 0.7 itself write a persist store (run in a venv with intake==0.7.0).

Not part of the test suite: it records how tests/data/intake07_store/ was made.
Everything goes under a neutral root, /tmp/intake07 (override with argv[1]):

    <root>/catalog/catalog.yaml, table.csv, array.npy   the original catalog
    <root>/persisted/cat.yaml + one folder per token     what intake 0.7 wrote
    <root>/conf/                                        an empty intake config dir

Usage:  /tmp/intake07venv/bin/python make_store.py [/tmp/intake07]
"""

import os
import shutil
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else "/tmp/intake07"
CATDIR = os.path.join(ROOT, "catalog")
PERSIST = os.path.join(ROOT, "persisted")

# Must be set before intake is imported: intake 0.7 reads its config at import.
os.environ["INTAKE_CONF_DIR"] = os.path.join(ROOT, "conf")  # no ~/.intake/conf.yaml
os.environ["INTAKE_PERSIST_PATH"] = PERSIST

CATALOG = """\
metadata:
  version: 1
sources:
  csvsource:
    description: a CSV table
    driver: csv
    args:
      urlpath: "{{ CATALOG_DIR }}/table.csv"
    metadata:
      origin: intake07
  arraysource:
    description: a small numpy array
    driver: numpy
    args:
      path: "{{ CATALOG_DIR }}/array.npy"
    metadata:
      origin: intake07
"""

N = 40  # rows in table.csv
LABELS = ["alpha", "beta", ""]  # "" is a missing value in the CSV


def write_inputs():
    import numpy as np

    if os.path.isdir(ROOT):  # only ever remove what an earlier run made
        extra = set(os.listdir(ROOT)) - {"catalog", "persisted", "conf"}
        if extra:
            sys.exit(f"{ROOT} holds other things ({sorted(extra)}); pick another root")
        shutil.rmtree(ROOT)
    os.makedirs(CATDIR)
    with open(os.path.join(CATDIR, "table.csv"), "w") as f:
        f.write("id,value,label,when\n")
        for i in range(N):
            f.write(f"{i},{round(i * 0.25 + 0.125, 3)},{LABELS[i % 3]},"
                    f"2026-01-01 {i % 24:02d}:00:00\n")
    # 1-D on purpose: 0.7's numpy driver fails on a single 2-D file
    # (dask "Chunks and shape must be of the same length"); it stacks its files,
    # so this (60,) array reads back, and persists, as shape (1, 60).
    np.save(os.path.join(CATDIR, "array.npy"), np.arange(60, dtype="float64") / 4)
    with open(os.path.join(CATDIR, "catalog.yaml"), "w") as f:
        f.write(CATALOG)


def main():
    write_inputs()
    import intake
    from intake.container.persist import store
    from intake.source.utils import tokenize

    assert intake.__version__ == "0.7.0", intake.__version__
    assert store.pdir == PERSIST, store.pdir

    cat = intake.open_catalog(os.path.join(CATDIR, "catalog.yaml"))
    csv = cat.csvsource
    arr = cat.arraysource
    print("csvsource token  ", tokenize(csv))
    print("arraysource token", tokenize(arr))
    # No ttl: with a ttl that has not yet run out, 0.7 cannot load the entry
    # again (CatalogEntry.__call__ calls store.refresh(<source>), which raises
    # KeyError), so ttl=None (0.7's default) is the store people actually had.
    pcsv = csv.persist()  # dataframe -> parquet (intake_parquet)
    parr = arr.persist()  # ndarray -> zarr (intake.source.zarr)
    print("persisted:", type(pcsv).__module__, type(pcsv).__name__,
          type(parr).__module__, type(parr).__name__)

    # read back with 0.7, as a fresh user would
    cat = intake.open_catalog(os.path.join(CATDIR, "catalog.yaml"))
    for name in ("csvsource", "arraysource"):
        assert cat._entries[name](persist="never").has_been_persisted
    assert type(cat.csvsource).__name__ == "ParquetSource"  # 0.7's redirect
    df = cat.csvsource.read()
    a = cat.arraysource.read()
    print(df.shape, df.dtypes.to_dict(), int(df.label.isna().sum()), "missing labels")
    print(a.shape, a.dtype, a.sum())
    print("store keys:", sorted(store))
    back = store.backtrack(tokenize(csv))
    print("backtrack:", type(back).__name__, back.read().shape)


if __name__ == "__main__":
    main()
