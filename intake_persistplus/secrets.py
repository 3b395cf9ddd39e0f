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

#: key names (case-insensitive) that hold secrets in fsspec/s3fs/gcsfs/adlfs options:
#: a key that is, or ends in, one of these words, or contains one of the compounds
CREDENTIAL_KEY = re.compile(
    r"(^|[_\-])(key|secret|token|password|passwd|pwd|credentials?|passphrase|"
    r"connection[_\-]?string|sas|sig|signature|auth|authorization|cookies?|credential)$"
    r"|secret|access[_\-]?key|session[_\-]?token|private[_\-]?key|account[_\-]?key|api[_\-]?key",
    re.I,
)


#: query parameters of signed URLs (S3, GCS, Azure SAS) that grant access
_SIGNED_QUERY = re.compile(r"^(x-amz-|x-goog-)|^(sig|signature)$", re.I)
#: the other parameters of an Azure SAS, dropped along with its ``sig``
_SAS_QUERY = re.compile(r"^(sv|ss|srt|sr|sp|se|st|spr|si|sdd|skoid|sktid|skt|ske|sks|skv)$", re.I)
_USERINFO = re.compile(r"^([a-zA-Z][\w+.\-]*://)[^/@\s]*@")


def is_credential_key(key: Any) -> bool:
    return isinstance(key, str) and bool(CREDENTIAL_KEY.search(key))


_URL = re.compile(r"^[a-zA-Z][\w+.\-]*://\S+$")


def scrub_url(text: str) -> str:
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
