"""gzip and punycode: gzip_decompress_from_base64_string and the punycode_* functions, in Python.

They run as DuckDB Python UDFs (see udfs.py). The encodings that compile to SQL (base64, URL
encoding, hashes) are with the string functions, in strings.py.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...kql.syntax import Node
from .registry import Columns, argument_text, check_arity, register
from .udfs import Udf, ensure_udfs

if TYPE_CHECKING:
    from ..interface import Compiler


# --------------------------------------------------------------------------- gzip
def gzip_decompress(text: str) -> str | None:
    """Base64 -> gzip -> UTF-8; anything that is not such a string gives null (documented)."""
    try:
        return gzip.decompress(base64.b64decode(text, validate=True)).decode("utf-8")
    except (binascii.Error, OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError):
        return None


@register("gzip_decompress_from_base64_string")
def _gzip_decompress(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    check_arity(node, arguments, 1, 1)
    ensure_udfs(compiler, _UDFS)
    return f"kqlm_gzip_decompress({argument_text(compiler, arguments[0], columns)})", "string"


@register("gzip_compress_to_base64_string")
def _gzip_compress(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    # Refused: the bytes depend on Kusto's deflate encoder and its choice of blocks (the documented
    # example is a stored block where zlib picks a fixed-Huffman one), so the emulator cannot produce
    # Kusto's string.
    check_arity(node, arguments, 1, 1)
    raise compiler.unsupported("gzip_compress_to_base64_string (its bytes are Kusto's deflate encoder's choice)", node)


# --------------------------------------------------------------------------- punycode
def punycode_encode(text: str) -> str:
    return text.encode("punycode").decode("ascii")


def punycode_decode(text: str) -> str | None:
    try:
        return text.encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return None


def punycode_domain_decode(text: str) -> str | None:
    labels = []
    for label in text.split("."):
        if label[:4].lower() == "xn--":
            decoded = punycode_decode(label[4:])
            if decoded is None:
                return None
            labels.append(decoded)
        else:
            labels.append(label)
    return ".".join(labels)


def punycode_domain_encode(text: str) -> str:
    return ".".join("xn--" + punycode_encode(label) if not label.isascii() else label for label in text.split("."))


def _string_udf(name: str, udf: str) -> Callable:
    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        check_arity(node, arguments, 1, 1)
        ensure_udfs(compiler, _UDFS)
        return f"{udf}({argument_text(compiler, arguments[0], columns)})", "string"

    return handler


register("punycode_from_string")(_string_udf("punycode_from_string", "kqlm_punycode_from"))
register("punycode_to_string")(_string_udf("punycode_to_string", "kqlm_punycode_to"))
register("punycode_domain_from_string")(_string_udf("punycode_domain_from_string", "kqlm_punycode_domain_from"))
register("punycode_domain_to_string")(_string_udf("punycode_domain_to_string", "kqlm_punycode_domain_to"))


_UDFS: list[Udf] = [
    ("kqlm_gzip_decompress", gzip_decompress, ["VARCHAR"], "VARCHAR"),
    ("kqlm_punycode_from", punycode_encode, ["VARCHAR"], "VARCHAR"),
    ("kqlm_punycode_to", punycode_decode, ["VARCHAR"], "VARCHAR"),
    ("kqlm_punycode_domain_from", punycode_domain_decode, ["VARCHAR"], "VARCHAR"),
    ("kqlm_punycode_domain_to", punycode_domain_encode, ["VARCHAR"], "VARCHAR"),
]
