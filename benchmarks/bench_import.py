"""``import intake`` with the plugin active vs. blocked.

intake imports every ``intake.imports`` entry point at ``import intake``; the
plugin activates itself that way, so its cost lands on every user of intake.
Each sample is one fresh interpreter that times ``import intake`` alone
(interpreter start-up is excluded, which makes the ratio stricter). Blocked
runs set ``INTAKE_IMPORT_BLOCK_LIST="['intake_persistplus']"``, the switch
intake itself offers.
"""

from __future__ import annotations

import json
import subprocess
import sys

from _common import Context, Result, interleave, timing_result

TARGET = 1.05
BLOCK = "['intake_persistplus']"
HEAVY = ("pandas", "dask", "pyarrow", "numpy", "zarr", "s3fs", "xarray")

_PROBE = """
import json, sys, time
before = set(sys.modules)
t0 = time.perf_counter()
import intake
seconds = time.perf_counter() - t0
print(json.dumps({
    "seconds": seconds,
    "plugin_active": "intake_persistplus.activate" in sys.modules,
    "modules": sorted(set(sys.modules) - before),
}))
"""


def _probe(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *extra, "-c", _PROBE],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def _plugin_import_ms(env: dict[str, str]) -> dict[str, float]:
    """Cumulative import time (ms) of the plugin's top modules, from ``-X importtime``."""
    proc = _probe(env, "-X", "importtime")
    out: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2].lstrip().startswith("intake_persistplus"):
            name = parts[2].strip()
            if name.count(".") <= 1:
                out[name] = int(parts[1]) / 1000
    return out


def bench_import(ctx: Context) -> list[Result]:
    """Best of interleaved fresh-process ``import intake`` timings, active vs blocked."""
    active_env = ctx.env()
    blocked_env = ctx.env(INTAKE_IMPORT_BLOCK_LIST=BLOCK)
    seen: dict[str, dict] = {}

    def case(name: str, env: dict[str, str]):
        def run() -> float:
            info = json.loads(_probe(env).stdout)
            seen[name] = info
            return info["seconds"]

        return run

    samples = interleave(
        {"active": case("active", active_env), "blocked": case("blocked", blocked_env)},
        ctx.sizes.import_repeats,
        warmup=2,
    )
    if not seen["active"]["plugin_active"] or seen["blocked"]["plugin_active"]:
        raise RuntimeError(
            "the block list did not switch the plugin: active run loaded it="
            f"{seen['active']['plugin_active']}, blocked run loaded it="
            f"{seen['blocked']['plugin_active']}"
        )
    extra = sorted(set(seen["active"]["modules"]) - set(seen["blocked"]["modules"]))
    details = {
        "modules_added_by_plugin": extra,
        "heavy_modules_added": [m for m in extra if m.split(".")[0] in HEAVY],
        "plugin_import_ms": _plugin_import_ms(active_env),
    }
    return [
        timing_result(
            "import intake (plugin active vs blocked)",
            samples["active"],
            samples["blocked"],
            TARGET,
            hand_label="plugin blocked",
            details=details,
            notes=[
                f"modules the plugin adds: {len(extra)}, of which heavy: "
                f"{', '.join(details['heavy_modules_added']) or 'none'}"
            ],
        )
    ]
