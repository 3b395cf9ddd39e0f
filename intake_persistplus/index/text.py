"""The text of the store's files that describe entries: the view ``cat.yaml``
and each source's head.

``cat.yaml`` as the store writes it (an expert may edit it by hand)::

    # intake-persistplus index ...
    metadata:
      version: 1
      persistplus_index: 2
    sources:
      <token>: {"driver": "persisted_parquet", "args": {...}, "metadata": {...}}

One entry a line, in flow style: the line is JSON that YAML reads the same
way (checked when it is written, see :func:`encode_entry`), so a whole view
is read with ``json.loads`` per line, not with a YAML parser. A view edited by
hand may be in any YAML: it is parsed whole, once, by :func:`parse_whole`.

A head, ``<root>/.heads/<token>``, is the truth for one source::

    #persistplus-head 2 <generation> <sha256 of the rest>
    {"driver": ..., "args": ..., "metadata": ...}
"""

from __future__ import annotations

import hashlib
import json
import re

import yaml

from ..errors import CorruptIndexError, IndexFormatError
from ..walk import walk

#: the version of the index format this package writes and reads
FORMAT = 2
HEADER = (
    "# intake-persistplus persist store index: an intake catalog of persisted sources,\n"
    "# keyed by the token of their original. Open it with intake.open_catalog().\n"
    "# Hand edits (e.g. ttl: null) take effect on the next store operation.\n"
    "metadata:\n"
    "  version: 1\n"
    f"  persistplus_index: {FORMAT}\n"
)

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


def parse_whole(text: str, where: str = "the persist index") -> dict:
    """The ``sources:`` of ``text``, parsed with ``yaml.safe_load`` (the slow, sure way)."""
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
    return {str(token): entry for token, entry in (data.get("sources") or {}).items()}

_FORMAT_RE = re.compile(
    r"""\bpersistplus_index["']?[ \t]*:[ \t]*(?:(?:![^\s]*|&[^\s]+)[ \t]+)*["']?([^\s,}"'#]+)"""
)


def check_format(value: object, where: str = "the persist index") -> None:
    """Refuse an index written in a newer format than :data:`FORMAT`."""
    if value is None:
        return
    text = str(value).strip()
    try:
        number = int(text, 0) if text[:2].lower() in ("0x", "0o", "0b") else int(float(text))
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


# -- one entry as one line ---------------------------------------------------------------
# characters YAML does not take raw in a quoted string (or reads as line breaks)
_UNSAFE_RE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def _escape(m: re.Match) -> str:
    return f"\\u{ord(m.group()):04x}"


def _float_text(value: float) -> str:
    """A float as YAML 1.1 reads it back exactly (and JSON too, when finite)."""
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:  # 1e-05: YAML 1.1 wants a dot, or reads text
        text = f"{mantissa}.0e{exponent}"
    return text


def _same(a: object, b: object) -> bool:
    """Equal, with types (1, 1.0 and True differ) and NaN equal to itself."""
    def canon(x):
        return json.dumps(x, sort_keys=True, allow_nan=True, default=repr) + repr(type(x))

    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return canon(a) == canon(b)


def encode_entry(entry: dict) -> str:
    """One line that YAML, and (unless it holds NaN or infinities) ``json.loads``,
    read back as ``entry``: JSON, with floats spelled the way YAML 1.1 needs
    (``1.0e-05``, not ``1e-05``, which it reads as text). An entry JSON cannot
    hold (keys that are not strings) is written as a YAML flow mapping.

    Raises
    ------
    ValueError
        for an entry that cannot be written on one line (a string that is not
        valid Unicode, say).
    """
    floats: list[str] = []

    def mark(value):
        if isinstance(value, float):
            floats.append(_float_text(value))
            return f"\x00{len(floats) - 1}\x00"
        return value

    try:
        text = json.dumps(walk(entry, mark), ensure_ascii=False)
        text = re.sub(r'"\\u0000(\d+)\\u0000"', lambda m: floats[int(m.group(1))], text)
        text = _UNSAFE_RE.sub(_escape, text)
        if _same(load(text), entry):
            return text
    except (ValueError, TypeError, yaml.YAMLError):
        pass
    text = yaml.dump(entry, Dumper=_Dumper, default_flow_style=True, default_style='"',
                     width=1 << 30, allow_unicode=False, sort_keys=False).strip()
    try:
        if "\n" not in text and _same(load(text), entry):
            return text
    except yaml.YAMLError:
        pass
    raise ValueError(f"this index entry cannot be written on one line: {entry!r:.200}")


def decode_entry(text: str) -> object:
    """The entry written by :func:`encode_entry` (JSON, else YAML flow, whose
    aliases are bounded as in :func:`load_bounded`).

    Raises
    ------
    CorruptIndexError
        for a line that is neither.
    """
    try:
        return json.loads(text)
    except ValueError:
        pass
    except RecursionError:
        raise CorruptIndexError("an index entry is nested too deeply") from None
    try:
        return load_bounded(text, "an index entry")
    except RecursionError:
        raise CorruptIndexError("an index entry is nested too deeply") from None
    except yaml.YAMLError as e:
        raise CorruptIndexError(f"an index entry is not valid YAML: {e}") from None


_HEX = "0123456789abcdef"
#: a key YAML reads as a plain scalar, never as a token when it is not one
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _numberlike(token: str) -> bool:
    """Whether YAML reads ``token`` as a number (what :data:`_NUMBER_RE` matches)."""
    return token.isdigit() or (token[:2] == "0b" and len(token) > 2 and not token[2:].strip("01"))


def _breaks(text: str) -> bool:
    """Whether ``text`` holds a character YAML takes for a line break and
    ``str.split("\\n")`` does not."""
    return any(c in text for c in "\r\x85\u2028\u2029")
_NUMBER_RE = re.compile(r"[0-9]+|0b[01]+")  # tokens YAML would read as numbers


def _key(token: str) -> str:
    return f"'{token}'" if _NUMBER_RE.fullmatch(token) else token


def view_text(lines: dict[str, str]) -> str:
    """The text of ``cat.yaml`` holding ``lines`` (token -> encoded entry)."""
    if not lines:
        return HEADER + "sources: {}\n"
    return "".join([HEADER, "sources:\n", *(f"  {_key(t)}: {e}\n" for t, e in lines.items())])


def read_view(text: str) -> dict[str, str] | None:
    """token -> encoded entry of a view as :func:`view_text` writes it, or None
    for any other shape (then it is parsed whole)."""
    if not text.startswith(HEADER):
        return None
    body = text[len(HEADER):]
    if body == "sources: {}\n":
        return {}
    if not body.startswith("sources:\n") or not body.endswith("\n") or _breaks(body):
        return None
    lines = {}
    for line in body[9:-1].split("\n"):
        # "  <token>: <entry>", the token quoted when YAML would read it as a number
        key, sep, entry = line.partition(": ")
        if not (sep and entry and key.startswith("  ")) or entry.isspace():
            return None
        token = key[2:]
        if token[:1] == "'":
            token = token[1:-1] if token[-1:] == "'" and _numberlike(token[1:-1]) else ""
        elif _numberlike(token):
            continue  # YAML reads it as a number: not a token, ignored like any other key
        if not 16 <= len(token) <= 64 or token.strip(_HEX):
            if _PLAIN_KEY.fullmatch(key[2:]):
                continue  # a plain word that is not a token: an entry the store ignores
            return None
        if token in lines:
            return None
        lines[token] = entry
    return lines


# -- heads -----------------------------------------------------------------------------
_HEAD_PREFIX = "#persistplus-head 2 "


def head_text(generation: int, line: str) -> bytes:
    body = line + "\n"
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return f"{_HEAD_PREFIX}{generation} {digest}\n{body}".encode()


def read_head(data: bytes, where: str) -> tuple[int, str]:
    """(generation, encoded entry) of a head; a head that is cut short, altered or
    not one is refused.

    Raises
    ------
    CorruptIndexError
        naming ``where`` and what is wrong.
    """
    first, sep, body = data.partition(b"\n")
    parts = first.decode("ascii", errors="replace").split(" ")
    if len(parts) == 4 and parts[0] == "#persistplus-head" and parts[1].isdigit():
        check_format(int(parts[1]), where)  # a newer head is never taken for a damaged one
    if not sep or len(parts) != 4 or first.decode("ascii", "replace")[: len(_HEAD_PREFIX)] != _HEAD_PREFIX:
        raise CorruptIndexError(f"{where} is not a head written by intake-persistplus")
    try:
        generation = int(parts[2])
    except ValueError:
        raise CorruptIndexError(f"{where} has a bad generation {parts[2]!r}") from None
    if hashlib.sha256(body).hexdigest() != parts[3] or not body.endswith(b"\n"):
        raise CorruptIndexError(f"{where} does not match its checksum (cut short or altered)")
    return generation, body[:-1].decode("utf-8")
