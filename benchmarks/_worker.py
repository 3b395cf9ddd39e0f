"""Run one benchmark function in this (fresh) process.

Usage: ``python _worker.py MODULE FUNC KWARGS_JSON OUT_JSON``. Calls
``MODULE.FUNC(**kwargs)`` from the benchmarks folder and writes its return
value as JSON to ``OUT_JSON``; stdout stays unused.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    module, func, kwargs, out = argv
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    result = getattr(importlib.import_module(module), func)(**json.loads(kwargs))
    Path(out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
