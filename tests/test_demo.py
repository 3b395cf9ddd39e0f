"""The README's main job runs end to end on its bundled example."""

from __future__ import annotations

import io

import intake
import pytest

from intake_persistplus.demo import run


@pytest.mark.slow
def test_demo_persists_redirects_and_refreshes(tmp_path):
    out = io.StringIO()
    before = intake.conf.get("persist_path")
    figures = run(str(tmp_path / "demo"), rows=5000, out=out)
    text = out.getvalue()
    assert figures["refreshed"] is True
    assert "is_persisted=True" in text and "redirected" in text and "faster" in text
    assert (tmp_path / "demo" / "persisted" / "cat.yaml").exists()
    assert intake.conf.get("persist_path") == before  # the user's store is left alone


def test_demo_never_empties_a_folder_it_did_not_make(tmp_path):
    import pytest

    precious = tmp_path / "thesis.tex"
    precious.write_text("years of work")
    with pytest.raises(FileExistsError, match="not made by the demo"):
        run(str(tmp_path), rows=100)
    assert precious.read_text() == "years of work"
