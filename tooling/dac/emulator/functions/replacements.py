"""replace_strings(): the lookup and rewrite pairs it applies, and, where the arrays are computed per row
rather than written as literals, the Python function DuckDB calls for each row (strings.py compiles
literal arrays to SQL with the same pairs).

The reference (replace-strings-function) fixes the rules: elements of `lookups` that are not strings are
ignored; a rewrite that is not a string makes no replacement, but its match still counts, so later lookups
do not touch it; matches do not overlap, and the earlier lookup takes precedence. What it leaves open is
refused: an empty lookup, fewer rewrites than lookups, arrays that are not arrays.
"""

from __future__ import annotations

import json
from typing import Any

from .udfs import Refused, Udf


def replacement_pairs(lookups: Any, rewrites: Any) -> list[tuple[str, str]]:
    """(lookup, rewrite) in precedence order; Refused where the reference does not give the answer."""
    if not isinstance(lookups, list) or not isinstance(rewrites, list):
        raise Refused("replace_strings() whose lookups or rewrites are not arrays")
    if len(rewrites) < len(lookups):
        raise Refused("replace_strings() with fewer rewrites than lookups")
    pairs = []
    for lookup, rewrite in zip(lookups, rewrites, strict=False):
        if not isinstance(lookup, str):
            continue  # "Array element that isn't a string is ignored."
        if lookup == "":
            raise Refused("replace_strings() with an empty lookup")
        # "Array element that isn't a string is ignored (no replacement made)": the match stays.
        pairs.append((lookup, rewrite if isinstance(rewrite, str) else lookup))
    return pairs


def replace_all(text: str, pairs: list[tuple[str, str]]) -> str:
    """The text split on the first lookup, each piece rewritten by the later pairs, joined by the first
    rewrite: a match of an earlier lookup is never searched again ('This'/'is' -> 'This was', and
    'is'/'This' -> 'Thwas was', as the reference's example shows)."""
    if not pairs:
        return text
    (lookup, rewrite), later = pairs[0], pairs[1:]
    return rewrite.join(replace_all(piece, later) for piece in text.split(lookup))


def replace_strings_value(text: str, lookups_json: str, rewrites_json: str) -> str:
    """The UDF: the arrays arrive as JSON text ('null' for a null dynamic, which is not an array)."""
    return replace_all(text, replacement_pairs(json.loads(lookups_json), json.loads(rewrites_json)))


UDFS: list[Udf] = [("kqlm_replace_strings", replace_strings_value, ["VARCHAR", "VARCHAR", "VARCHAR"], "VARCHAR")]
