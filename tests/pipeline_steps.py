"""Transforms the pipeline tests' catalogs name (``tests.pipeline_steps.<name>``)."""

from __future__ import annotations

import os


def double(df):
    return df.assign(v2=df.v * 2)


def total(df):
    return df.groupby("k").v2.sum().to_frame()


def scale(df, factor=1):
    return df.assign(v=df.v * factor)


def fail_if_flagged(df, flag=""):
    """Raises while the file ``flag`` exists (a step that breaks, on demand)."""
    if flag and os.path.exists(flag):
        raise RuntimeError(f"step broken on purpose: {flag} exists")
    return df


class Trap:
    """A "driver" a hostile catalog names: making it leaves a file behind."""

    container = "dataframe"

    def __init__(self, marker="", **kwargs):
        with open(marker, "w") as f:
            f.write("a catalog named by a record was opened and its entry built")

    def read(self):  # pragma: no cover - never reached when the catalog is refused
        raise RuntimeError("trap")
