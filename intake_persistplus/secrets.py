"""Keep credentials out of everything the store writes.

Anything under a ``storage_options`` mapping (at any depth) whose key names a
credential is dropped before a record, an index entry or an exported catalog
entry is written; so are ``user:password@`` in URLs and the query parameters
of signed URLs. Positional arguments are matched to their parameter names
first, so a positional ``storage_options`` is scrubbed too.
Sources that need those credentials are refreshed through their catalog entry,
which supplies them again at refresh time.
"""

from __future__ import annotations

import re
from typing import Any

from .walk import DROP, walk

#: words that make a key a credential, wherever they stand in it: ``token``,
#: ``accessToken``, ``api-token``, ``AWS_SECRET_ACCESS_KEY``, ``tok``, ``pw``...
CREDENTIAL_WORDS = frozenset({
    "key", "secret", "token", "tok", "pass", "passwd", "password", "passphrase", "pw",
    "pwd", "auth", "authorization", "bearer", "credential", "credentials", "creds",
    "session", "sas", "cookie", "cookies", "connection_string",
})
#: words that make a key a credential only at its end (``signature_version`` is not one)
_LAST_WORDS = frozenset({"signature", "sig"})
#: spellings that are one word but hold a credential word inside
_COMPOUND = re.compile(
    r"secret|password|passwd|passphrase|credential|token|accesskey|apikey|privatekey|"
    r"accountkey|sessionkey|connectionstring|bearer|cookie",
    re.I,
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


#: query parameters of signed URLs (S3, GCS, Azure SAS) that grant access
_SIGNED_QUERY = re.compile(r"^(x-amz-|x-goog-)|^(sig|signature)$", re.I)
#: the other parameters of an Azure SAS, dropped along with its ``sig``
_SAS_QUERY = re.compile(r"^(sv|ss|srt|sr|sp|se|st|spr|si|sdd|skoid|sktid|skt|ske|sks|skv)$", re.I)
_USERINFO = re.compile(r"^([a-zA-Z][\w+.\-]*://)[^/@\s]*@")


def is_credential_key(key: Any) -> bool:
    """True for a mapping key whose name suggests a credential (case-insensitive):
    one of :data:`CREDENTIAL_WORDS` as a word of it (split at ``_``, ``-``, ``.``
    and camelCase), or a compound such as ``accesskey`` or ``apitoken``."""
    if not isinstance(key, str):
        return False
    words = [w.lower() for w in _WORD.findall(key)]
    if set(words) & CREDENTIAL_WORDS or key.lower() in CREDENTIAL_WORDS:
        return True
    if words and words[-1] in _LAST_WORDS:
        return True
    return bool(_COMPOUND.search(key.replace("_", "").replace("-", "")))


_URL = re.compile(r"^[a-zA-Z][\w+.\-]*://\S+$")


def scrub_url(text: str) -> str:
    """``text`` with every link of a chained URL (``simplecache::https://u:p@host/x``)
    scrubbed by :func:`scrub_link`."""
    if "::" in text:
        return "::".join(scrub_link(link) for link in text.split("::"))
    return scrub_link(text)


def scrub_link(text: str) -> str:
    """``text`` without user:password in a URL or access-granting query parameters.

    Only a string that is a URL (a scheme, ``://``, no spaces) is touched, and
    its query only when a parameter is dropped.
    """
    if "://" not in text or not _URL.match(text):
        return text
    text = _USERINFO.sub(r"\1", text)
    if "?" in text:
        from urllib.parse import parse_qsl, urlencode

        base, _, query = text.partition("?")
        pairs = parse_qsl(query, keep_blank_values=True)
        sas = any(k.lower() == "sig" for k, _ in pairs)
        kept = [
            (k, v) for k, v in pairs
            if not (is_credential_key(k) or _SIGNED_QUERY.search(k) or (sas and _SAS_QUERY.search(k)))
        ]
        if len(kept) != len(pairs):
            text = base + ("?" + urlencode(kept) if kept else "")
    return text


def _without_credentials(key: Any, value: Any) -> Any:
    return DROP if is_credential_key(key) else value


def _scrub_item(key: Any, value: Any) -> Any:
    if isinstance(key, str) and key.endswith("storage_options"):
        # every credential key below a storage_options mapping goes, at any depth
        return walk(value, item=_without_credentials)
    return value


def _scrub_leaf(value: Any) -> Any:
    return scrub_url(value) if isinstance(value, str) else value


def scrub(value: Any) -> Any:
    """A copy of ``value`` in which every ``storage_options`` mapping, at any depth,
    has lost its credential keys (at any depth below it), and every URL its
    user:password and signed-URL query parameters."""
    return walk(value, _scrub_leaf, item=_scrub_item)


_URL_IN_TEXT = re.compile(r"[a-zA-Z][\w+.\-]*://[^\s'\"<>]+(?:::[a-zA-Z][\w+.\-]*://[^\s'\"<>]+)*")


def scrub_text(text: str) -> str:
    """``text`` (an error message, say) with every URL in it scrubbed."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: scrub_url(m.group(0)), text)
