"""Never slower than the original: a freshly opened catalog's ``entry().read()``
of a persisted copy vs the same with persistence off, for every source of the
corpus (``tests/corpus.py``: CSVs of 5 KB to ~1.5 MB, header-less, with dates,
a parquet file, netCDF files alone and combined, a zarr store).

One worker process builds the corpus, persists every source, checks that a
fresh catalog serves its copy, then times, source by source, interleaved
(ABBA, one warm-up round dropped):

* ours: ``intake.open_catalog(path)[name].read()`` (the copy, through the redirect);
* hand-written: ``intake.open_catalog(path, persist_mode="never")[name].read()``
  (the original).

The catalog is opened anew for every sample (both sides pay the same YAML
parse). The headline is the **median** of each side; ``ratio = copy /
original``, target 1.05 (the copy at least ~0.95x as fast as the original).
The minimums and every sample are in the JSON.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from _common import HERE, Context, Result, interleave, run_worker, timed

TARGET = 1.05


# -- worker side ------------------------------------------------------------------------
def corpus_read(folder: str, repeats: int, medium_rows: int) -> dict:
    """Samples (seconds) of the copy's and the original's fresh-catalog ``read()``, by source."""
    import sys
    import warnings

    sys.path.insert(0, str(HERE.parent))  # the corpus lives with the tests
    import intake

    from tests import corpus

    catalog = str(corpus.build(Path(folder), medium_rows=medium_rows))
    for name in corpus.NAMES:
        intake.open_catalog(catalog)[name](persist_mode="never").persist()
        if not intake.open_catalog(catalog)[name].is_persisted:
            raise RuntimeError(f"a fresh catalog does not serve the copy of {name}")
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # xarray's and zarr's, the same on both sides
        for name in corpus.NAMES:
            def copy(name=name) -> float:
                return timed(lambda: intake.open_catalog(catalog)[name].read())

            def original(name=name) -> float:
                return timed(lambda: intake.open_catalog(catalog, persist_mode="never")[name].read())

            out[name] = interleave({"copy": copy, "original": original}, repeats, warmup=1)
    return out


# -- runner side ------------------------------------------------------------------------
def bench_corpus(ctx: Context) -> list[Result]:
    """Each corpus source: the copy's fresh-catalog ``read()`` vs the original's."""
    out = run_worker(
        ctx,
        "bench_corpus",
        "corpus_read",
        dict(folder=str(ctx.subdir("corpus/data")), repeats=ctx.sizes.corpus_repeats,
             medium_rows=ctx.sizes.corpus_medium_rows),
        env=ctx.env(INTAKE_PERSIST_PATH=str(ctx.subdir("corpus/store"))),
    )
    results = []
    for name, samples in out.items():
        copy, original = samples["copy"], samples["original"]
        results.append(Result(
            name=f"corpus {name}: fresh catalog read()",
            ours=statistics.median(copy),
            hand=statistics.median(original),
            unit="s",
            target=TARGET,
            ours_label="copy",
            hand_label="original (persist_mode='never')",
            statistic="median",
            details={"copy_min": min(copy), "original_min": min(original),
                     "ratio_of_minimums": min(copy) / min(original),
                     "copy_samples": copy, "original_samples": original},
        ))
    return results
