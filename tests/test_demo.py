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
    assert figures["revalidated"] is True and figures["refreshed"] is True
    assert "is_persisted=True" in text and "redirected" in text
    ratio = figures["csv_read"] / figures["parquet_read"]
    # the words follow the figures measured (5,000 rows: the copy is not always faster here)
    if ratio >= 1.2:
        assert f"{ratio:.1f}x as fast" in text
    elif ratio > 1 / 1.2:
        assert "about as fast as the original" in text
    else:
        assert f"the copy reads slower here ({1 / ratio:.1f}x" in text
    assert (tmp_path / "demo" / "persisted" / "cat.yaml").exists()
    assert intake.conf.get("persist_path") == before  # the user's store is left alone


@pytest.mark.parametrize(
    "slow, fast, words",
    [(3.0, 1.0, "reads 3.0x as fast"), (1.0, 1.05, "about as fast"), (1.0, 2.0, "reads slower here (2.0x")],
)
def test_the_demo_words_its_speed_up_honestly(slow, fast, words):
    from intake_persistplus.demo import speedup_text

    assert words in speedup_text(slow, fast)


def test_demo_never_empties_a_folder_it_did_not_make(tmp_path):
    import pytest

    precious = tmp_path / "thesis.tex"
    precious.write_text("years of work")
    with pytest.raises(FileExistsError, match="not made by the demo"):
        run(str(tmp_path), rows=100)
    assert precious.read_text() == "years of work"
