"""Redaction of secret-looking values before anything reaches the graph.

Provenance records environments, arguments and configuration, which is exactly where credentials
hide. Every importer's data passes through here (the models' ``properties()`` and the PROV codec):
a value is replaced by :data:`REDACTED` when its key names a secret (``password``, ``token``,
``api_key``, ...) or when the value itself looks like one (a private key, a cloud or forge token, a
bearer token, a JWT, a URL with a password in it, which keeps the URL but loses the password).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

__all__ = ["REDACTED", "is_secret_key", "redact", "redact_value"]

REDACTED = "[redacted]"

# Matched against the last part of a key (after any prefix such as "ex:" or "env.").
_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?|"
    r"auth(orization)?|session[_-]?key|client[_-]?secret|signature|cookie)$",
    re.IGNORECASE,
)
_NOT_SECRET_KEY = re.compile(r"(token_?count|num_?tokens|tokens|max_?tokens|tokenizer|password_?policy)$", re.I)

# One alternation, so that a long value is scanned once.
_SECRET_VALUE = re.compile("|".join((
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key id
    r"\bgh[pousr]_[A-Za-z0-9]{30,}\b",  # GitHub tokens
    r"\bglpat-[A-Za-z0-9_\-]{20,}\b",  # GitLab personal access tokens
    r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b",  # Slack tokens
    r"\bsk-[A-Za-z0-9_\-]{20,}\b",  # API secret keys of the "sk-" family
    r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWT
    r"\b[Bb]earer\s+[A-Za-z0-9._~+/\-]{16,}=*",
)))
# Each pattern above contains one of these; plain substring tests are much cheaper than the
# regex, and almost no value contains any of them.
_TRIGGERS = ("-----BEGIN", "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "glpat-", "xox", "sk-",
             "eyJ", "earer")

# scheme://user:password@host -> keep everything but the password.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]+:)(?P<password>[^@/\s]+)(?P<at>@)")


@lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether a property/attribute name says its value is a secret (names repeat: cached)."""
    last = re.split(r"[:.#/]", key)[-1]
    return bool(_SECRET_KEY.search(last)) and not _NOT_SECRET_KEY.search(last)


def redact_value(value: str) -> str:
    """A string with embedded credentials removed (whole value or the password of a URL)."""
    if any(trigger in value for trigger in _TRIGGERS) and _SECRET_VALUE.search(value):
        return REDACTED
    if "://" not in value or "@" not in value:
        return value
    return _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED + m.group("at"), value)


def redact(key: str, value: Any) -> Any:
    """``value`` with secrets redacted, looking into dicts and lists (their keys count too)."""
    if value is None:
        return None
    if is_secret_key(key):
        return REDACTED
    if isinstance(value, str):
        return redact_value(value)
    if isinstance(value, dict):
        return {k: redact(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(key, v) for v in value]
    return value
