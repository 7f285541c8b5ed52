"""Secrets never reach output: every line dac prints, logs or writes goes through `redact`.

dac runs in CI next to tenant credentials and a GitHub token. Besides token-shaped strings (bearer
headers, JWTs, `client_secret=...` fields), the values themselves are masked wherever they appear:
those of the environment variables that hold credentials (DAC_ACCESS_TOKEN, AZURE_CLIENT_SECRET,
GitHub's OIDC request token, any *_TOKEN, *_SECRET, *PASSWORD ... variable) and every access token
the process obtained (`register_secret`). `install` wraps standard output and standard error, so
click, rich and logging output are covered; reports and files go through `write_text`.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 8  # shorter values would mask ordinary words

SECRET_VARIABLES = (
    "DAC_ACCESS_TOKEN",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_PASSWORD",
    "AZURE_FEDERATED_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
)
_SECRET_NAME = re.compile(  # a word of the variable's name says it holds a secret (not PWD, the current folder)
    r"(?i)(^|_)(secrets?|tokens?|password|passwd|credentials?|api_?key|private_?key|connection_?string)(_|$)"
)
_NOT_SECRET_NAME = re.compile(r"(?i)(_URL|_URI|_FILE|_PATH|_ENDPOINT|_AUDIENCE)$")  # where a secret is, not what

_BEARER_RE = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*")
_JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
_SECRET_FIELD_RE = re.compile(
    r"(?i)(\"?(?:access_token|id_token|refresh_token|client_assertion|client_secret|authorization)\"?\s*[:=]\s*\"?)"
    r"[^\"&\s,}]+"
)

_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask `value` in all later output (an access token the process obtained, say)."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        _registered.add(value)


def known_secrets() -> set[str]:
    """Every secret value the process knows: registered ones and those of secret environment variables."""
    values = set(_registered)
    for name, value in os.environ.items():
        if len(value) < MIN_SECRET_LENGTH:
            continue
        if name in SECRET_VARIABLES or (_SECRET_NAME.search(name) and not _NOT_SECRET_NAME.search(name)):
            values.add(value)
    return values


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with known secrets, the given `secrets`, bearer tokens, JWTs and token-like fields masked."""
    if not text:
        return text
    extra = [s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH]
    for secret in sorted({*extra, *known_secrets()}, key=len, reverse=True):  # longest first: masked whole
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _BEARER_RE.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _JWT_RE.sub(REDACTED, text)
    return _SECRET_FIELD_RE.sub(lambda m: m.group(1) + REDACTED, text)


def write_text(path: Path, text: str, **options: Any) -> None:
    """Write a report or generated file with secrets masked."""
    path.write_text(redact(text), **options)


class RedactingStream(io.TextIOBase):
    """A text stream that masks secrets in everything written to the stream it wraps."""

    def __init__(self, inner: Any):
        super().__init__()
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.inner, "errors", None)

    @property
    def buffer(self) -> Any:
        """Raw bytes bypass redaction, so writers that look for a buffer get this text stream instead."""
        raise AttributeError("buffer")


def install() -> None:
    """Wrap sys.stdout and sys.stderr (once) so nothing printed carries a secret."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))
