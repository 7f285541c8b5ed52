"""String and regular expression functions."""

from __future__ import annotations

from . import register, simple, with_kinds  # noqa: F401
