"""Keep credentials out of everything the store writes.

Anything under a ``storage_options`` mapping (at any depth) whose key names a
credential is dropped before a record, an index entry or an exported catalog
entry is written.
Sources that need those credentials are refreshed through their catalog entry,
which supplies them again at refresh time.
"""

from __future__ import annotations

import re
from typing import Any

#: key names (case-insensitive) that hold secrets in fsspec/s3fs/gcsfs/adlfs options:
#: a key that is, or ends in, one of these words, or contains one of the compounds
CREDENTIAL_KEY = re.compile(
    r"(^|[_\-])(key|secret|token|password|passwd|pwd|credentials?|passphrase|"
    r"connection[_\-]?string|sas|signature|auth|authorization|cookie)$"
    r"|secret|access[_\-]?key|session[_\-]?token|private[_\-]?key|account[_\-]?key|api[_\-]?key",
    re.I,
)


def is_credential_key(key: Any) -> bool:
    return isinstance(key, str) and bool(CREDENTIAL_KEY.search(key))


def _drop_credentials(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_credentials(v) for k, v in value.items() if not is_credential_key(k)}
    if isinstance(value, list):
        return [_drop_credentials(v) for v in value]
    return value


def scrub(value: Any) -> Any:
    """A copy of ``value`` in which every ``storage_options`` mapping, at any depth,
    has lost its credential keys (at any depth below it)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "storage_options" or (isinstance(k, str) and k.endswith("storage_options")):
                out[k] = _drop_credentials(v)
            else:
                out[k] = scrub(v)
        return out
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def has_credentials(value: Any) -> bool:
    """True if ``scrub`` would remove something."""
    return scrub(value) != value
