"""A 20-step pipeline where one leaf changed (see docs/pipelines.rst).

The train: 9 CSV originals ``r0..r8`` (200,000 rows each), a
``DataFrameTransform`` of each (``d0..d8``), ``mid`` (a ``DataFramePipeline``
summing ``d0..d8`` by category) and ``final`` (a transform of ``mid``): 20
persisted steps, every copy expired (ttl 0). ``r3``'s file is
rewritten. A catalog access to ``final`` brings the train up to date
(``refresh_train(..., policy="stale")``): the 8 unchanged originals are
revalidated by fingerprint, the derived steps they feed by their upstreams,
and only ``r3 -> d3 -> mid -> final`` is read and written again. Against:
refreshing all 20 steps (``store.refresh`` of each, in order; the 0.1.0 way).
Target: at most 0.5 (reported with each step's outcome).
"""

from __future__ import annotations

from _common import Context, Result, interleave, run_worker
from data import write_csv

TARGET = 0.5
LEAVES = 9


# -- worker side ------------------------------------------------------------------------
def train(folder: str, repeats: int) -> dict:
    import time

    import intake
    import pandas as pd

    from intake_persistplus import store

    cat_path = f"{folder}/catalog.yaml"
    cat = intake.open_catalog(cat_path)
    final = cat.final(persist_mode="never")
    outcomes = store.refresh_train(final, original=final)  # first persist of all 20
    if [o.outcome for o in outcomes] != ["persisted"] * 20:
        raise RuntimeError(f"expected 20 first persists: {outcomes}")
    order = [o.token for o in outcomes]
    leaf = f"{folder}/r3.csv"
    round_ = [0]

    def change_leaf() -> None:
        round_[0] += 1
        df = pd.read_csv(leaf)
        df.loc[0, "x"] = round_[0]
        df.to_csv(leaf, index=False)
        time.sleep(0.01)

    seen: list = []

    def ours() -> float:
        change_leaf()
        t0 = time.perf_counter()
        steps = store.refresh_train(final, policy="stale", original=final)
        seconds = time.perf_counter() - t0
        seen.append({o.step: o.outcome for o in steps})
        return seconds

    def every_step() -> float:
        change_leaf()
        t0 = time.perf_counter()
        for token in order:
            store.refresh(token)
        return time.perf_counter() - t0

    out = interleave({"ours": ours, "hand": every_step}, repeats, warmup=0)
    return out | {"outcomes": seen[-1]}


# -- runner side ------------------------------------------------------------------------
def bench_pipeline(ctx: Context) -> list[Result]:
    import json

    folder = ctx.subdir("pipeline")
    rows = 20_000 if ctx.quick else 200_000
    for i in range(LEAVES):
        write_csv(folder / f"r{i}.csv", rows=rows, seed=i)
    (folder / "steps.py").write_text("def same(df):\n    return df\n")
    expired = {"persist": {"ttl": 0}}
    lines = {"sources": {}}
    src = lines["sources"]
    for i in range(LEAVES):
        src[f"r{i}"] = {"driver": "csv", "args": {"urlpath": str(folder / f"r{i}.csv")}, "metadata": expired}
        src[f"d{i}"] = {"driver": "intake.source.derived.DataFrameTransform",
                        "args": {"targets": [f"r{i}"], "transform": "steps.same", "transform_kwargs": {}},
                        "metadata": expired}
    leaves = [f"d{i}" for i in range(LEAVES)]
    src["mid"] = {"driver": "intake.source.derived.DataFramePipeline",
                  "args": {"targets": leaves, "steps": [
                      {"method": "concat", "kwargs": {"dfs": leaves}},
                      {"method": "groupby", "kwargs": {"by": "category"}},
                      {"method": "cols", "kwargs": {"columns": ["x", "y", "count"]}},
                      {"method": "sum"}]},
                  "metadata": expired}
    src["final"] = {"driver": "intake.source.derived.DataFrameTransform",
                    "args": {"targets": ["mid"], "transform": "steps.same", "transform_kwargs": {}},
                    "metadata": expired}
    (folder / "catalog.yaml").write_text(json.dumps(lines, indent=1))  # JSON is YAML
    import os

    env = ctx.env(INTAKE_PERSIST_PATH=str(ctx.subdir("pipeline/store")),
                  PYTHONPATH=os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p))
    out = run_worker(ctx, "bench_pipeline", "train", dict(folder=str(folder), repeats=1 if ctx.quick else 3),
                     env=env)
    rewritten = sorted(step for step, what in out["outcomes"].items() if what == "refreshed")
    result = Result(
        name=f"20-step train, one leaf changed, vs refreshing all 20 (rewritten: {', '.join(rewritten)})",
        ours=min(out["ours"]), hand=min(out["hand"]), unit="s", target=TARGET,
        ours_label="train refresh", hand_label="refresh every step", details=out,
    )
    if rewritten != ["d3", "final", "mid", "r3"]:
        result.error = f"expected only r3 -> d3 -> mid -> final rewritten, got {out['outcomes']}"
    return [result]
