"""The text of the index, ``cat.yaml``: its layout and the fast way to cut it up.

Layout written here (an expert may edit it by hand)::

    # intake-persistplus index ...
    metadata:
      version: 1
      persistplus_index: 1
    sources:
      <token>:
        driver: persisted_parquet
        args: {urlpath: '{{ CATALOG_DIR }}/<token>/<version>/data', ...}
        metadata: {original_tok: <token>, ...}

Reading never goes through a YAML parse of the whole file: :func:`split` cuts
the ``sources:`` block into one text slice per entry with regular
expressions, and an entry is parsed only when it is looked up. Anything the
fast path does not recognise (flow style, entries that are not mappings, keys
at the top level after ``sources:``, anchors, tags, keys YAML reads as numbers,
a string or flow collection that may run over a line at the key indent) goes
to :func:`parse_whole`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import yaml

from ..errors import CorruptIndexError, IndexFormatError

if TYPE_CHECKING:
    from ..record import Record

#: the version of the index format this package writes and reads
FORMAT = 1
HEADER = (
    "# intake-persistplus persist store index: an intake catalog of persisted sources,\n"
    "# keyed by the token of their original. Open it with intake.open_catalog().\n"
    "# Hand edits (e.g. ttl: null) take effect on the next store operation.\n"
    "metadata:\n"
    "  version: 1\n"
    f"  persistplus_index: {FORMAT}\n"
)
#: bytes of the end of the file kept to recognise an append
TAIL = 64

try:  # the C implementations are much faster and always safe
    from yaml import CSafeDumper as _Dumper
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml missing
    from yaml import SafeDumper as _Dumper
    from yaml import SafeLoader as _Loader


def load(text: str):
    return yaml.load(text, Loader=_Loader)


def dump_block(token: str, entry: dict) -> str:
    """The text of one index entry, indented under ``sources:``."""
    text = yaml.dump(
        {token: entry},
        Dumper=_Dumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=1 << 30,
    )
    return "".join("  " + line if line.strip() else line for line in text.splitlines(True))


_SOURCES_RE = re.compile(r"^sources:[ \t]*(?:#[^\n]*)?$", re.M)
_EMPTY_TAIL_RE = re.compile(r"\nsources:[ \t]*(?:\{\s*\}|null|~)?[ \t]*(?:#[^\n]*)?\s*\Z")
_ANCHOR_RE = re.compile(r"&(?<=[\s\-\[{,:]&)[\w\-]")  # may be aliased from another entry
_TAG_RE = re.compile(r"!(?<=[\s\-\[{,:]!)[^\s]")  # may stand before a quoted string
# YAML line breaks besides "\n" ("\r\n" is one): the regexes here see them as "\n"
_OTHER_BREAKS = ("\r", "\x85", "\u2028", "\u2029")
_AS_NEWLINE = str.maketrans(dict.fromkeys(_OTHER_BREAKS, "\n"))
# A quoted scalar still open at the end of its line, or a flow collection other
# than [] or {}: their continuation lines can look like anything, keys included.
# Each pattern starts with a literal, which the regex engine finds fast; the
# quote or bracket must follow white space (see _closed for the rest).
_OPEN_RES = (
    re.compile(r"'(?<=\s')(?![^'\n]*(?:''[^'\n]*)*'(?!'))"),  # no closing ' on this line
    re.compile(r'"(?<=\s")(?![^"\\\n]*(?:\\.[^"\\\n]*)*")'),  # no closing " on this line
    re.compile(r"\[(?<=\s\[)(?!\][ \t]*(?:#|$))", re.M),
    re.compile(r"\{(?<=\s\{)(?!\}[ \t]*(?:#|$))", re.M),
)
_QUOTED_RE = {
    "'": re.compile(r"'[^']*(?:''[^']*)*'(?!')"),
    '"': re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S),
}
# The patterns below start with a literal newline (the body is scanned with one
# prepended), which lets the regex engine jump between line starts quickly.
_TOP_LEVEL_RE = re.compile(r"\n[^\s#]")
_FIRST_KEY_RE = re.compile(r"\n( +)[^\s#]")


@dataclass
class Slot:
    text: str | None  # the entry's text in the file (None after a fallback parse)
    data: object = None  # parsed entry, filled lazily
    record: Record | None = None
    parsed: bool = False


@dataclass
class Snapshot:
    """What one read of the index file found."""

    sig: tuple | None = None  # (inode, size, mtime_ns) of the file that was read
    tail: bytes = b""  # its last bytes, to recognise an append
    slots: dict[str, Slot] = field(default_factory=dict)
    appendable: bool = False  # the file ends inside a canonical ``sources:`` block
    indent: int = 2


def split(text: str, snap: Snapshot) -> bool:
    """Cut the ``sources:`` block of ``text`` into per-entry slices.

    Fills ``snap.slots`` and returns True, or returns False when the text is
    not in a shape this fast path can vouch for (then the caller parses it
    whole). The checks are C-level regex scans (and a look at each string that
    runs over lines); nothing is parsed here.
    """
    original = text
    if any(c in text for c in _OTHER_BREAKS):  # same length, same offsets
        text = text.translate(_AS_NEWLINE)
    if (
        text.lstrip("\ufeff")[:1] in ("&", "!")
        or ("&" in text and _ANCHOR_RE.search(text))
        or ("!" in text and _TAG_RE.search(text))
    ):
        return False
    if _EMPTY_TAIL_RE.search("\n" + text[-200:]) and text.count("\nsources:") + text.startswith("sources:") == 1:
        if not _closed(text, 0):  # that "sources:" line may be inside a string
            return False
        snap.appendable = False
        return True
    m = _SOURCES_RE.search(text)
    if m is None:
        return False
    body = "\n" + text[m.end() + 1 :]  # every line, the first included, follows a newline
    if _TOP_LEVEL_RE.search(body):  # a top-level key after sources:
        return False
    first = _FIRST_KEY_RE.search(body)
    if first is None:  # "sources:" with nothing below it is null
        if not _closed(text, 0):
            return False
        snap.appendable = False
        return True
    k = len(first.group(1))
    # a key: 'quoted' (no escapes), "quoted" (no escapes) or plain (not starting
    # with an indicator, no ": " or "#" inside), alone on its line
    key_re = re.compile(
        rf"\n {{{k}}}(?:'([^'\n]+)'|\"([^\"\\\n]+)\"|((?:[^\s#'\"\-?:,\[\]{{}}&*!|>%@`]|[\-?:](?=\S))[^\n:#]*))"
        r":(?:[ \t]+(?:#[^\n]*)?)?(?=\n|\Z)"
    )
    keys = list(key_re.finditer(body))
    n_at_k = len(re.findall(rf"\n {{{k}}}[^\s#]", body))
    if len(keys) != n_at_k or (k > 1 and re.search(rf"\n {{1,{k - 1}}}[^\s#]", body)):
        return False
    if not _closed(text, k):  # a line at indent k may be inside a string, not a key
        return False
    if original is not text:
        body = "\n" + original[m.end() + 1 :]
    starts = [km.start() + 1 for km in keys] + [len(body)]
    slots = snap.slots
    for i, km in enumerate(keys):
        token = km.group(1) or km.group(2)
        if token is None:
            token = km.group(3).strip()
            if _resolver.resolve(yaml.ScalarNode, token, (True, False)) != _STR:
                return False  # a plain key YAML reads as a number, null, bool, merge...
        slots[token] = Slot(text=body[starts[i] : starts[i + 1]])
    snap.indent = k
    snap.appendable = k == 2 and text.endswith("\n")
    return True


_resolver = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"


def _closed(text: str, k: int) -> bool:
    """False if a quoted scalar or flow collection may hold a line indented by ``k``
    spaces or less (a key line of the index, or a top-level one).

    One that never ends (a broken last entry) or a flow collection over several
    lines is taken to run to the end of the text.
    """
    if text.lstrip("\ufeff")[:1] in ("'", '"', "[", "{"):  # no white space before it
        return False
    shallow = re.compile(rf"\n {{0,{k}}}[^ \n]")
    for open_re in _OPEN_RES:
        for m in open_re.finditer(text):
            start = m.start()
            before = text[text.rfind("\n", 0, start) + 1 : start].rstrip(" \t")
            if before and before[-1] not in "-?:":
                continue  # inside plain text: no node (scalar, collection) can start here
            quote = text[start]
            end = len(text)
            if quote in "[{":
                line_end = text.find("\n", start)
                line = text[start : line_end if line_end >= 0 else end]
                opened = line.count("[") + line.count("{")
                if opened == line.count("]") + line.count("}") and not any(c in line for c in "'\"#"):
                    continue  # it plainly ends on its line
            else:
                found = _QUOTED_RE[quote].match(text, start)
                if found is not None:
                    end = found.end()
            if shallow.search(text, start, end):
                return False
    return True


#: values one index entry (or the header) may hold once its aliases are expanded;
#: an entry the store writes has a few dozen, an alias bomb billions
MAX_NODES = 20_000


def load_bounded(text: str, where: str = "the persist index") -> object:
    """``yaml.safe_load``, refusing a document one of whose entries (or its header)
    expands past :data:`MAX_NODES` values through aliases; counted on the composed
    graph, in time linear in the text."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        sizes: dict[int, int] = {}

        def size(n) -> int:
            known = sizes.get(id(n))
            if known is not None:
                return known
            sizes[id(n)] = 1  # a recursive alias counts once
            total = 1
            if isinstance(n, yaml.SequenceNode):
                total += sum(size(c) for c in n.value)
            elif isinstance(n, yaml.MappingNode):
                total += sum(size(k) + size(v) for k, v in n.value)
            sizes[id(n)] = total = min(total, MAX_NODES + 1)
            return total

        parts = [node]
        if isinstance(node, yaml.MappingNode):
            parts = []
            for key, value in node.value:
                if key.value == "sources" and isinstance(value, yaml.MappingNode):
                    parts += [entry for _, entry in value.value]
                else:
                    parts.append(value)
        if any(size(part) > MAX_NODES for part in parts):
            raise CorruptIndexError(
                f"{where} has an entry that expands to more than {MAX_NODES:,} values "
                "through YAML aliases; it is refused (the store never writes aliases)"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def parse_whole(text: str, snap: Snapshot, where: str = "the persist index") -> None:
    """Parse ``text`` with ``yaml.safe_load`` into ``snap`` (the slow, sure way)."""
    try:
        data = load_bounded(text, where)
    except RecursionError:
        raise CorruptIndexError(f"{where} is nested too deeply") from None
    except yaml.YAMLError as e:
        raise CorruptIndexError(f"{where} is not valid YAML: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict) or not isinstance(data.get("sources") or {}, dict):
        raise CorruptIndexError(f"{where} has no 'sources:' mapping")
    md = data.get("metadata")
    check_format(md.get("persistplus_index") if isinstance(md, dict) else None, where)
    for token, entry in (data.get("sources") or {}).items():
        snap.slots[str(token)] = Slot(text=None, data=entry, parsed=True)
    snap.appendable = False




_FORMAT_RE = re.compile(r"""\bpersistplus_index["']?[ \t]*:[ \t]*["']?([^\s,}"'#]+)""")


def check_format(value: object, where: str = "the persist index") -> None:
    """Refuse an index written in a newer format than :data:`FORMAT`."""
    if value is None:
        return
    try:
        number = int(str(value).strip())
    except ValueError:
        raise CorruptIndexError(f"{where} has a bad format number {value!r}") from None
    if number > FORMAT:
        raise IndexFormatError(
            f"{where} is in format {number}, written by a newer intake-persistplus; "
            f"this one reads format {FORMAT}: upgrade intake-persistplus "
            "(pip install -U intake-persistplus), or use another persist path"
        )


def check_header(text: str, where: str = "the persist index") -> None:
    """:func:`check_format` on the ``persistplus_index:`` of the part before ``sources:``
    (any indent, block or flow style, quoted or not, with a comment or not)."""
    end = text.find("\nsources:")
    head = text[: end + 1] if end >= 0 else text[:4096]
    m = _FORMAT_RE.search(head)
    if m is not None:
        check_format(m.group(1), where)
