"""Python functions (DuckDB UDFs) behind some scalar functions and aggregates: each module lists its
own (name, function, parameter types, result type) and calls `ensure_udfs` before it compiles a call
of one, which registers them on the engine's connection once.

A UDF sees nulls (null in gives null out, see `guarded`). Where Kusto's answer is not documented well
enough to reproduce exactly it raises `Refused`, and the query fails on that row (EMU002) instead of
guessing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..interface import Compiler

Udf = tuple[str, Callable, list[str], str]  # SQL name, Python function, parameter types, result type


class Refused(ValueError):
    """Raised inside a UDF where Kusto's answer is unknown: the query fails instead of answering."""


def guarded(function: Callable) -> Callable:
    @functools.wraps(function)  # DuckDB reads the parameter count from the signature
    def call(*args: Any) -> Any:
        if any(arg is None for arg in args):  # null in, null out (the UDFs see nulls: they may return null)
            return None
        try:
            return function(*args)
        except Refused as exc:
            raise ValueError(f"the emulator cannot reproduce Kusto exactly here: {exc}") from None

    return call


def ensure_udfs(compiler: Compiler, udfs: list[Udf]) -> None:
    """Register the UDFs on the engine's connection, those not registered there yet."""
    engine = compiler.engine
    registered: set[str] = engine.__dict__.setdefault("kql_python_udfs", set())
    for name, function, parameters, result in udfs:
        if name in registered:
            continue
        engine.connection.create_function(
            name,
            guarded(function),
            parameters,
            result,
            null_handling="special",  # type: ignore[arg-type]
        )
        registered.add(name)
