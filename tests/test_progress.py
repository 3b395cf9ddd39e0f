"""Long persists show a progress bar in a terminal, and only there."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import textwrap

import pytest

from .conftest import write_catalog

CODE = textwrap.dedent(
    """
    import sys, intake
    if sys.argv[2] == "off":
        intake.conf["persist_progress"] = False
    intake.open_catalog(sys.argv[1]).slow(persist_mode="never").persist()
    """
)


def run_in_terminal(args, env):
    """Run with stderr on a pseudo-terminal; return what the terminal showed."""
    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", CODE, *args], stderr=secondary, stdout=subprocess.DEVNULL, env=env
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(main)
    assert proc.returncode == 0
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize("setting, shown", [("on", True), ("off", False)])
def test_progress_bar_in_a_terminal(tmp_path, setting, shown):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    catalog = write_catalog(
        tmp_path,
        {"slow": {"driver": "tests.sources.SlowFrameSource", "args": {"npartitions": 8, "delay": 0.4}}},
    )
    env = dict(os.environ, INTAKE_PERSIST_PATH=str(tmp_path / "store"), PYTHONPATH=root)
    screen = run_in_terminal([str(catalog), setting], env)
    assert ("Completed" in screen) is shown, screen


@pytest.mark.slow
def test_no_progress_bar_when_not_a_terminal(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    catalog = write_catalog(
        tmp_path,
        {"slow": {"driver": "tests.sources.SlowFrameSource", "args": {"npartitions": 8, "delay": 0.4}}},
    )
    env = dict(os.environ, INTAKE_PERSIST_PATH=str(tmp_path / "store"), PYTHONPATH=root)
    proc = subprocess.run(
        [sys.executable, "-c", CODE, str(catalog), "on"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0 and "Completed" not in proc.stderr and "[#" not in proc.stderr
