"""The declared floors are the ones CI proves: ci/oldest.txt pins every floor of
pyproject.toml (the package's dependencies and its extras'), ci/requirements.txt
repeats them, and the oldest-versions job (``make test-oldest``) really runs on them."""

from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: extras that are tools for developing the package, not what it runs on
TOOL_EXTRAS = {"test", "docs", "dev"}
#: set by ``make test-oldest``: the installed versions must be ci/oldest.txt's
EXPECT_OLDEST = os.environ.get("PERSISTPLUS_EXPECT_OLDEST") == "1"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def floors_of(requirements: list[str]) -> dict[str, str]:
    """``{name: floor}`` of requirement strings like ``dask[dataframe]>=2025.1.0,<2026``."""
    found = {}
    for line in requirements:
        line = line.split("#")[0].strip()
        if not line:
            continue
        m = re.match(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)", line)
        name, spec = canonical(m[1]), m[3].split(";")[0]
        floor = re.search(r">=\s*([^,\s]+)", spec)
        found[name] = floor[1] if floor else None
    return found


def project() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def declared() -> dict[str, str]:
    proj = project()
    reqs = list(proj["dependencies"])
    for extra, more in proj["optional-dependencies"].items():
        if extra not in TOOL_EXTRAS:
            reqs += more
    return floors_of(reqs)


def oldest() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "ci" / "oldest.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical(name)] = version.strip()
    return pins


def test_every_dependency_has_a_floor_pinned_in_ci_oldest():
    floors, pins = declared(), oldest()
    assert not [n for n, f in floors.items() if f is None], "a dependency without a floor"
    assert floors == pins, "pyproject.toml's floors and ci/oldest.txt differ"


def test_ci_requirements_repeat_the_floors():
    floors = declared()
    lines = (ROOT / "ci" / "requirements.txt").read_text().splitlines()
    repeated = {n: f for n, f in floors_of(lines).items() if n in floors}
    assert repeated == {n: floors[n] for n in repeated}


def test_intake_pre_releases_up_to_2_1_are_allowed():
    spec = next(r for r in project()["dependencies"] if canonical(r.split(">")[0]) == "intake")
    assert spec == "intake>=2.0.8,<2.2"  # 2.0.7 and older break `import intake`, see README


@pytest.mark.skipif(not EXPECT_OLDEST, reason="only in `make test-oldest`")
def test_the_oldest_job_runs_on_the_floors():
    installed = {n: metadata.version(n) for n in oldest()}
    assert installed == oldest()
