"""The fast split of the index text (index/text.py ``split``) against a real YAML parse.

``split`` cuts the ``sources:`` block of ``cat.yaml`` into one text slice per
entry with regular expressions, or declines (returns False) so that the index
is parsed whole. Whatever it does, a user must see what YAML sees: the keys of
``sources`` and nothing else, each entry as it is written. The oracle here is
``yaml.safe_load`` of the whole text.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from intake_persistplus.errors import CorruptIndexError, InvalidRecordError
from intake_persistplus.index import HEADER, Index, dump_block
from intake_persistplus.index.text import Snapshot, split
from intake_persistplus.layout import is_token, location
from intake_persistplus.record import Record

FAKE = "0123456789abcdef"  # a token that is only ever written inside a string

if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):  # its caches, not in the project folder
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "intake-persistplus-hypothesis")


def entry(token: str, description: str = "", **metadata) -> dict:
    """A valid index entry, as the store writes it."""
    md = {
        "original_tok": token,
        "original_name": "source",
        "container": "dataframe",
        "timestamp": 1700000000.5,
        "ttl": None,
        "persist_version": "20240101T000000.000000Z-abcdef",
    }
    md.update(metadata)
    return {
        "driver": "persisted_parquet",
        "description": description,
        "args": {"urlpath": "{{ CATALOG_DIR }}/" + f"{token}/v/data"},
        "metadata": md,
    }


def expected_record(token: str, value) -> Record | None:
    try:
        return Record.from_entry(token, value)
    except InvalidRecordError:
        return None


def check(text: str, folder: Path, full=None) -> bool:
    """Assert what a user sees of ``text`` as an index; return what split returned.

    ``full`` is ``yaml.safe_load(text)``. Keys are compared as text, the way the
    whole-file parse names entries (``str(key)``), except in the slices, which
    must hold exactly YAML's keys.
    """
    full = yaml.safe_load(text) if full is None else full
    sources = full.get("sources") if isinstance(full, dict) else None
    broken = full is not None and (
        not isinstance(full, dict) or not isinstance(sources or {}, dict)
    )

    # 1. the slices split vouches for are exactly the entries YAML reads
    snap = Snapshot()
    ok = split(text, snap)
    if ok:
        assert not broken, "split vouched for an index whose sources is not a mapping"
        sources_keys = set(sources or {})
        assert set(snap.slots) == sources_keys, "split found other keys than YAML"
        for token, slot in snap.slots.items():
            try:
                got = yaml.safe_load(slot.text)
            except yaml.YAMLError as e:
                raise AssertionError(
                    f"the slice of {token!r} is not YAML: {e}\n{slot.text}"
                ) from None
            assert got == {token: sources[token]}, f"the slice of {token!r}"

    # 2. what the Index shows, before any lookup could make it re-read the file whole
    (folder / "cat.yaml").write_bytes(text.encode("utf-8"))
    index = Index(location(str(folder)))
    if broken:
        with pytest.raises(CorruptIndexError):
            index.tokens()
        return ok
    want = {str(k): v for k, v in (sources or {}).items()}
    tokens = {t for t in want if is_token(t)}
    assert set(index.tokens()) == tokens
    assert len(index) == len(tokens)
    look_alikes = set(re.findall(r"(?<![0-9a-zA-Z])[0-9a-f]{16,64}(?![0-9a-zA-Z])", text)) - tokens
    for t in look_alikes:
        assert t not in index, f"{t} is no key of the index"
    for t in tokens:
        assert t in index
        assert index.get(t) == expected_record(t, want[t]), t
    for t in look_alikes:
        assert index.get(t) is None
    return ok


# -- the bug from the review, and the others the property test found ---------------------------

A, B = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"


def canonical(*tokens: str) -> str:
    return HEADER + "sources:\n" + "".join(dump_block(t, entry(t)) for t in tokens)


def test_a_token_like_line_in_a_hand_edited_string_is_not_a_token(tmp_path):
    """The review's case: a description continued by hand over lines, one of them
    at the key indent and shaped like a key, is one string, not another entry."""
    text = canonical(A, B).replace(
        "    description: ''\n", f"    description: 'Notes:\n  {FAKE}:\n    keep forever'\n", 1
    )
    full = yaml.safe_load(text)
    assert list(full["sources"]) == [A, B]
    assert full["sources"][A]["description"] == f"Notes: {FAKE}: keep forever"

    index = Index(location(str(tmp_path)))
    (tmp_path / "cat.yaml").write_text(text)
    assert sorted(index.tokens()) == [A, B]
    assert FAKE not in index and len(index) == 2
    assert index.get(FAKE) is None
    assert index.get(A).description == f"Notes: {FAKE}: keep forever"
    check(text, tmp_path)


def _swap(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


#: Minimal inputs on which the fast split listed a key YAML does not have, or
#: missed one it has (before the fix in index/text.py).
CASES = {
    # the same with double quotes
    "double-quoted": lambda: _swap(
        canonical(A), "description: ''", f'description: "x\n  {FAKE}:\n    y"'
    ),
    # a flow collection over several lines
    "flow": lambda: _swap(
        canonical(A), "args:\n", f"args: {{urlpath: u,\n  {FAKE}:\n    v}}\n    x:\n"
    ),
    # a string opened at the end of a line, after a plain string continued on a line with a quote
    "plain-then-quote": lambda: _swap(
        canonical(A),
        "description: ''",
        f"description: foo\n      'x\n    note: '\n  {FAKE}:\n    z'",
    ),
    # an escape in a double-quoted key: the key is 0123456789abcdef
    "escaped-key": lambda: canonical(A) + '  "\\x30123456789abcdef":\n    driver: x\n',
    # "\r", NEL, LS and PS end lines in YAML: the key after one is a key
    "lone-CR": lambda: _swap(
        canonical(A), "driver: persisted_parquet\n", f"driver: x\r  {FAKE}:\n    driver: y\n"
    ),
    "NEL": lambda: _swap(
        canonical(A), "driver: persisted_parquet\n", f"driver: x\x85  {FAKE}:\n    driver: y\n"
    ),
    "LS": lambda: _swap(
        canonical(A), "driver: persisted_parquet\n", f"driver: x\u2028  {FAKE}:\n    driver: y\n"
    ),
    # an unquoted all-digit token is a number to YAML (here octal: 5744368105847)
    "octal-key": lambda: canonical(A) + "  0123456701234567:\n    driver: x\n",
    # "sources:" inside a string of the header
    "sources-in-header-string": lambda: f"metadata: 'x\nsources:\n  {FAKE}:\n    y'\n",
    "empty-sources-in-header-string": lambda: (
        f"{{sources: {{{FAKE}: {{driver: x}}}}, m: 'x\nsources: {{}} #'}}\n"
    ),
    # a merge key brings its entries into sources
    "merge-key": lambda: canonical(A) + f"  <<:\n    {FAKE}:\n      driver: x\n",
    # a tag on a key
    "tagged-key": lambda: canonical(A) + f"  !!str {FAKE}:\n    driver: x\n",
}


@pytest.mark.parametrize("name", list(CASES))
def test_hand_edits_that_fooled_the_fast_split(tmp_path, name):
    text = CASES[name]()
    full = yaml.safe_load(text)
    assert isinstance(full, dict)
    check(text, tmp_path)


def test_a_broken_last_entry_keeps_the_fast_path(tmp_path):
    """An unclosed string can only swallow what follows it: at the very end, the
    entries before it are still cut out (and read) one by one."""
    text = canonical(A, B) + f"  {FAKE}:\n    driver: 'unclosed\n    args: [\n"
    snap = Snapshot()
    assert split(text, snap) is True
    assert list(snap.slots) == [A, B, FAKE]
    (tmp_path / "cat.yaml").write_text(text)
    index = Index(location(str(tmp_path)))
    assert index.get(A) == expected_record(A, entry(A))
    assert index.get(FAKE) is None


# -- canonical files stay on the fast path -------------------------------------------------------


@pytest.mark.parametrize("variant", ["CRLF", "line separators"])
def test_other_line_breaks_keep_the_fast_path(tmp_path, variant):
    if variant == "CRLF":
        text = canonical(A, B).replace("\n", "\r\n")
    else:
        text = (
            HEADER
            + "sources:\n"
            + dump_block(A, entry(A, "one\u2028two\u2029three"))
            + dump_block(B, entry(B))
        )
        assert "\u2028" in text  # dump_block writes it as is, in a quoted string
    assert check(text, tmp_path) is True


def test_a_canonical_index_of_10000_entries_is_split(tmp_path):
    # dump_block is slow-ish (~0.4 ms an entry): dump 100 varied entries and
    # give them new tokens; a token is a plain hex string wherever it appears,
    # so this is the text dump_block writes for those tokens (checked below)
    descriptions = [
        "",
        "d",
        "it's",
        "Notes:\n  not a key:\n- item",
        "é ü 日本",
        "a: b # c",
        "[K]",
        "'q' \"d\"",
        "x" * 300,
    ]
    templates = []
    for i in range(100):
        token = "ab" + f"{i:02x}" * 7
        md = {
            "original_metadata": {"i": i, "tags": ["a", "b c"], "nested": [{"k": "v"}]},
            "ttl": [None, 60][i % 2],
        }
        templates.append(
            (token, dump_block(token, entry(token, descriptions[i % len(descriptions)], **md)))
        )
    tokens = [f"{n:032x}" for n in range(0xABC << 100, (0xABC << 100) + 10_000)]
    blocks = [templates[n % 100][1].replace(templates[n % 100][0], t) for n, t in enumerate(tokens)]
    for n in (0, 3, 57):  # each is what dump_block writes for its own entry
        assert blocks[n] == dump_block(tokens[n], yaml.safe_load(blocks[n])[tokens[n]])
    text = HEADER + "sources:\n" + "".join(blocks)

    snap = Snapshot()
    started = time.perf_counter()
    assert split(text, snap) is True
    took = time.perf_counter() - started
    assert list(snap.slots) == tokens
    assert snap.appendable
    for n in (0, 1, 4999, 9999):
        assert yaml.safe_load(snap.slots[tokens[n]].text) == yaml.safe_load(blocks[n])
    assert took < 3, f"split took {took:.2f} s"  # ~0.15 s; a full parse takes ~10 s


# -- the property --------------------------------------------------------------------------------

HEX = "0123456789abcdef"
keys_strategy = st.lists(
    st.one_of(
        st.text(HEX, min_size=16, max_size=40),
        st.text("0123456789", min_size=16, max_size=20),  # a number to YAML unless quoted
        st.text("01", min_size=14, max_size=18).map(lambda s: "0b" + s),  # binary, ditto
    ),
    max_size=3,
    unique=True,
)
other_keys = st.lists(
    st.sampled_from(["name", "not-a-token", "ABCDEF0123456789ab", "null", "1.5"]), max_size=1
)
texts = st.one_of(
    st.text(st.sampled_from("abcxyzABC019 .,-_/:'\néü日"), max_size=16),
    st.sampled_from(
        [
            f"Notes:\n  {FAKE}:\n    keep",
            f"{FAKE}:",
            "it's",
            "a: b",
            "#x",
            "- item",
            "'q'",
            '"d"',
            'a "b',
            'x\n"unbalanced',
            "x\n[K",
            "x\u2028y",
            "x\x85y",
            "é ü 日本",
            "line1\n\nline2\n",
            " lead\ntrail ",
            "a &b !c",
            "a\r\nb",
            "",
        ]
    ),
    st.text(max_size=8),
)
entry_kinds = st.sampled_from(
    ["valid"] * 6 + ["bad-driver", "no-timestamp", "scalar", "list", "null", "wrong-tok"]
)
# timestamps before the year 2242 (later ones make Record.from_entry raise ValueError)
numbers = st.one_of(st.integers(0, 2**33), st.floats(0, 2e9))
ttls = st.sampled_from([None, 0, 60, 1.5])
versions = st.sampled_from(["20240101T000000.000000Z-abcdef", "v1", "not safe/"])


@st.composite
def entries(draw, token: str):
    kind = draw(entry_kinds)
    if kind == "scalar":
        return draw(texts)
    if kind == "list":
        return [1, draw(texts)]
    if kind == "null":
        return None
    value = {
        "driver": "persisted_parquet",
        "description": draw(texts),
        "args": {"urlpath": "{{ CATALOG_DIR }}/" + f"{token}/v/data"},
        "metadata": {
            "original_tok": token,
            "timestamp": draw(numbers),
            "ttl": draw(ttls),
            "persist_version": draw(versions),
        },
    }
    if draw(st.booleans()):
        value["metadata"]["original_metadata"] = {draw(texts): [draw(texts)]}
    if kind == "bad-driver":
        value["driver"] = 3
    elif kind == "no-timestamp":
        del value["metadata"]["timestamp"]
    elif kind == "wrong-tok":
        value["metadata"]["original_tok"] = "f" * 32
    return value


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


#: what may (harmlessly) make the fast path decline a canonical file: a tag or
#: anchor in plain text, a double quote or bracket opening a line of a string
MAY_DECLINE = re.compile('["\\[{!&]')


def reindent(block: str, factor: int) -> str:
    return "".join(
        " " * (factor * (len(line) - len(line.lstrip(" ")))) + line.lstrip(" ")
        for line in block.splitlines(True)
    )


EDITS = [
    "quoted",  # a multi-line string, one of its lines shaped like a key
    "quoted-open",  # the same, opened at the end of its line
    "plain-quote",  # a plain string continued on a line that starts with a quote, then a string
    "block",  # a | or > block string holding a key-shaped line
    "plain",  # a plain string over two lines
    "comments",
    "blank",
    "quote-key",
    "escape-key",
    "unquote-key",
    "tag-key",
    "flow",  # the entry in flow style, on one line
    "flow-lines",  # a flow collection over lines, one shaped like a key
    "break",  # a YAML line break that is not "\n" (\r, NEL, LS, PS), then a key
    "merge",  # a "<<" merge key beside the entry
]


@st.composite
def hand_edit(draw, block: str, token: str, others: list[str], k: int) -> tuple[str, str]:
    """One hand edit of an entry's text (its key indented by ``k``, its fields by 2k)."""
    lines = block.splitlines(True)
    v = " " * (2 * k)
    key_like = draw(st.sampled_from([FAKE, *others]))
    pad = " " * draw(st.sampled_from([0, 1, k, k, k + 1, 2 * k, 3 * k]))
    q = draw(st.sampled_from(["'", '"']))
    edit = draw(st.sampled_from(EDITS))
    if edit == "quoted":
        new = [v + f"note: {q}Notes:\n", pad + f"{key_like}:\n", v + f"  keep{q}\n"]
    elif edit == "quoted-open":
        new = [v + f"note: {q}\n", pad + f"{key_like}:\n", v + f"  z{q}\n"]
    elif edit == "plain-quote":
        new = [
            v + "note: foo\n",
            v + "  'x\n",
            v + "more: '\n",
            pad + f"{key_like}:\n",
            v + "  z'\n",
        ]
    elif edit == "block":
        style = draw(st.sampled_from(["|", "|-", "|+", ">", ">-"]))
        new = [
            v + f"note: {style}\n",
            v + "  line one\n",
            "\n",
            v + f"  {key_like}:\n",
            v + "    'deeper\n",
        ]
    elif edit == "plain":
        new = [v + "note: first words\n", v + f"  and {key_like} more\n"]
    elif edit == "flow-lines":
        new = [v + "args2: {urlpath: u,\n", pad + f"{key_like}:\n", v + "  w}\n"]
    elif edit == "break":
        new = [
            v
            + "x: y"
            + draw(st.sampled_from(["\r", "\x85", "\u2028", "\u2029"]))
            + " " * k
            + f"{key_like}:\n"
        ]
    elif edit in ("comments", "blank"):
        out = list(lines)
        for _ in range(draw(st.integers(1, 3))):
            if edit == "comments":
                text = " " * draw(st.sampled_from([0, 1, k, 2 * k])) + draw(
                    st.sampled_from(["# c\n", f"# {key_like}: 'x\n", "#\n"])
                )
            else:
                text = draw(st.sampled_from(["\n", "  \n", " " * k + "\n"]))
            out.insert(draw(st.integers(0, len(out))), text)
        if draw(st.booleans()):
            out[0] = out[0].rstrip("\n") + "  # a comment\n"
        return "".join(out), edit
    elif edit == "quote-key":
        return "".join([" " * k + f"{q}{token}{q}:\n"] + lines[1:]), edit
    elif edit == "escape-key":
        return "".join([" " * k + f'"\\x{ord(token[0]):02x}{token[1:]}":\n'] + lines[1:]), edit
    elif edit == "unquote-key":
        return "".join([" " * k + f"{token}:\n"] + lines[1:]), edit
    elif edit == "tag-key":
        return "".join([" " * k + f"!!str {token}:\n"] + lines[1:]), edit
    elif edit == "flow":
        flow = yaml.safe_dump(
            yaml.safe_load(block), default_flow_style=True, width=1 << 30, allow_unicode=True
        ).strip()
        return " " * k + flow[1:-1] + "\n", edit
    else:
        assert edit == "merge"
        return block + " " * k + "<<:\n" + v + f"{key_like}:\n" + v + "  driver: merged\n", edit
    return "".join(lines[:1] + new + lines[1:]), edit


HEADERS = [
    *[HEADER] * 9,
    "",
    "# mine\nmetadata:\n    version: 1\n",
    "metadata: {version: 1, persistplus_index: 1}\n",
    f"metadata:\n  note: 'x\nsources:\n  {FAKE}:\n    y'\n",  # "sources:" inside a string
    f"metadata:\n  note: |\n    sources:\n      {FAKE}:\n",
]
SOURCES_LINES = st.sampled_from(["sources:\n"] * 9 + ["sources:  # the entries\n"])
EMPTY_SOURCES = st.sampled_from(
    ["sources: {}\n", "sources:\n", "sources: null\n", "sources:\n  # nothing yet\n"]
)
TAILS = st.sampled_from(
    [""] * 15 + ["after: 1\n", f"other:\n  {FAKE}:\n    driver: x\n", "# end\n"]
)
ENDINGS = st.sampled_from(["\n"] * 12 + ["\r\n", "none"])


@st.composite
def index_texts(draw) -> tuple[str, bool, list[str]]:
    """An index text; whether the store could have written it; the hand edits in it."""
    tokens = draw(keys_strategy)
    k = draw(st.sampled_from([2] * 5 + [4]))
    edits = [] if k == 2 else ["indent 4"]
    canonical = True
    blocks = []
    for key in tokens + draw(other_keys):
        value = draw(entries(key))
        canonical = (
            canonical
            and isinstance(value, dict)
            and not any(MAY_DECLINE.search(x) for x in strings(value) if "{{" not in x)
        )
        block = reindent(dump_block(key, value), k // 2)
        if draw(st.integers(0, 4)) < 2:
            block, edit = draw(hand_edit(block, key, [t for t in tokens if t != key], k))
            edits.append(edit)
        blocks.append(block)
    if len(blocks) >= 2 and draw(st.integers(0, 9)) == 0:  # an anchor, and an alias to it
        blocks[0] = blocks[0].replace("args:", "args: &shared", 1)
        blocks[-1] = re.sub(
            r"args:\n(?:" + " " * (3 * k) + r".*\n)+", "args: *shared\n", blocks[-1], count=1
        )
        edits.append("anchor")
    header = draw(st.sampled_from(HEADERS))
    sources = draw(SOURCES_LINES) if blocks else draw(EMPTY_SOURCES)
    edits += ["header"] * (header != HEADER) + ["sources line"] * (sources != "sources:\n")
    text = header + sources + "".join(blocks)
    tail = draw(TAILS)
    ending = draw(ENDINGS)
    text += tail
    if ending == "\r\n":
        text = text.replace("\n", "\r\n")
    elif ending == "none":
        text = text.rstrip("\n")
    edits += ["tail"] * bool(tail) + ["ending " + repr(ending)] * (ending != "\n")
    return text, canonical and not edits, edits


def parse(text: str):
    """``yaml.safe_load(text)``, or None when it is no YAML or libyaml (which the
    Index uses) reads it otherwise than PyYAML."""
    try:
        full = yaml.safe_load(text)
        if yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) == full:
            return full
    except yaml.YAMLError:
        pass
    return None


@settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(index_texts())
def test_the_index_shows_what_yaml_reads(case):
    text, canonical, edits = case
    full = parse(text)
    assume(full is not None)
    with tempfile.TemporaryDirectory() as folder:
        ok = check(text, Path(folder), full)
    event(f"split: {ok}")
    for edit in edits or ["none"]:
        event(f"{edit}: split {ok}")
    if canonical:
        assert ok, "a canonical index must take the fast path"
