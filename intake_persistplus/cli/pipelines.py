"""The pipeline commands: ``refresh --train``, ``graph`` and ``schedule``."""

from __future__ import annotations

import sys
import time
from typing import Any

from .format import PROG, emit_json, human_seconds, human_size, table, utc_text


def _line(out: Any, done: int, total: int) -> str:
    what = f"{out.bytes and human_size(out.bytes) or ''}".strip()
    detail = f" ({out.error})" if out.error else f" ({what})" if what else ""
    return f"[{done}/{total}] {out.step}: {out.outcome} in {out.seconds:.2f} s{detail}"


def outcome_table(outcomes: list, out=None) -> None:
    table(
        [{"step": o.step, "outcome": o.outcome, "time": f"{o.seconds:.2f} s",
          "written": human_size(o.bytes) if o.bytes else "-", "error": o.error or ""}
         for o in outcomes],
        ["step", "outcome", "time", "written", "error"],
        out=out,
    )


def refresh_trains(store: Any, tokens: list[str], upstream: bool, downstream: bool, as_json: bool) -> int:
    """``refresh NAME --train`` / ``--downstream``: a progress line per step
    (stderr), then a table of every step; 1 if any step failed."""
    from ..train import FAILED, SKIPPED, Outcome

    everything = []

    def progress(out, done, total):
        print(_line(out, done, total), file=sys.stderr, flush=True)

    for token in tokens:
        try:
            everything += store.refresh_train(token, upstream, downstream, progress=progress)
        except Exception as e:  # a cycle, an upstream gone: this train; the others still run
            everything.append(Outcome(token, token, FAILED, error=f"{type(e).__name__}: {e}"))
    failed = sum(o.outcome == FAILED for o in everything)
    skipped = sum(o.outcome == SKIPPED for o in everything)
    if as_json:
        emit_json({"steps": [o.to_dict() for o in everything], "failed": failed, "skipped": skipped})
    else:
        outcome_table(everything)
    return 1 if failed or skipped else 0


def _tree_lines(node: dict, key: str, prefix: str = "", last: bool = True, top: bool = True) -> list[tuple]:
    branch = "" if top else ("└── " if last else "├── ")
    age = "-" if node.get("age") is None else human_seconds(node["age"])
    state = node["state"] + (", cycle" if node.get("cycle") else "")
    rows = [(prefix + branch + (node.get("name") or node["token"]), node.get("version") or "-", age, state)]
    children = node.get(key) or []
    inner = prefix + ("" if top else ("    " if last else "│   "))
    for i, child in enumerate(children):
        rows += _tree_lines(child, key, inner, i == len(children) - 1, False)
    return rows


def _dot(node: dict, key: str) -> str:
    lines, seen = ["digraph train {", "  rankdir=LR;"], set()

    def walk(n: dict) -> None:
        if n["token"] in seen:
            return
        seen.add(n["token"])
        name = str(n.get("name") or n["token"]).replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f"  \"{n['token']}\" [label=\"{name}\\n{n['state']}\"];")  # \n: a new line in dot
        for child in n.get(key) or []:
            up, down = (child, n) if key == "upstream" else (n, child)
            lines.append(f"  \"{up['token']}\" -> \"{down['token']}\";")
            walk(child)

    walk(node)
    return "\n".join([*lines, "}"])


def show_graph(store: Any, token: str, downstream: bool, as_json: bool, as_dot: bool) -> int:
    """``graph NAME``: the train leading to an entry (or made from it), with each
    step's version, age and state."""
    node = store.dependents(token) if downstream else store.dependencies(token)
    key = "downstream" if downstream else "upstream"
    if as_json:
        emit_json(node)
    elif as_dot:
        print(_dot(node, key))
    else:
        rows = _tree_lines(node, key)
        width = [max(len(r[i]) for r in rows) for i in range(3)]
        print(f"{'STEP'.ljust(width[0])}  {'VERSION'.ljust(width[1])}  {'AGE'.ljust(width[2])}  STATE")
        for r in rows:
            print(f"{r[0].ljust(width[0])}  {r[1].ljust(width[1])}  {r[2].ljust(width[2])}  {r[3]}")
    return 0


def run_schedule(store: Any, catalogs: list[str], once: bool) -> int:
    """``schedule CATALOG...``: refresh each scheduled train when due (``--once``:
    what is due now, then exit; 1 if a step failed)."""
    from ..schedule import run_due, scheduled, serve

    def report(item, steps) -> None:
        stamp = utc_text(time.time())
        for i, o in enumerate(steps, 1):
            print(f"{stamp} {item.label}: {_line(o, i, len(steps))}", flush=True)

    refused: list[str] = []
    items = scheduled(catalogs, refused)  # raises when none is usable
    for why in refused:
        print(f"{PROG} schedule: left out: {why}", file=sys.stderr, flush=True)
    if once:
        outcomes = run_due(store, items, report=report)
        if not outcomes:
            print("nothing is due")
        return 1 if refused or any(o.outcome == "failed" for o in outcomes) else 0
    print(f"{PROG} schedule: refreshing the scheduled trains of {', '.join(catalogs)} "
          "(SIGTERM or Ctrl-C stops)", flush=True)
    serve(store, items, report=report)
    print(f"{PROG} schedule: stopped", flush=True)
    return 0
