"""Geospatial cell functions (geohash, S2, H3): KQL name -> a call of the Python UDFs that
emulator/geo/cells.py registers on the connection (kql_geohash, kql_s2cell_polygon, ...).

Coordinates must be numbers and levels integers, as the reference's signatures say; any other
argument type is refused (EMU001) rather than converted in a way Kusto might not. A string
result is never null (an invalid input gives ""), a dynamic result is null for invalid input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...kql.names import name_text
from ...kql.syntax import Node
from ..errors import EmulatorError, offset_of
from ..geo.cell_defaults import GEOHASH_DEFAULT_ACCURACY, H3_DEFAULT_RESOLUTION, S2_DEFAULT_LEVEL
from .registry import Handler, register

if TYPE_CHECKING:
    from ..interface import Compiler

Columns = list[tuple[str, str]]

_NUMBERS = ("int", "long", "real", "decimal")
_INTEGERS = ("int", "long")


def _arguments(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node,
               expected: list[tuple[str, ...]], required: int) -> list[str]:  # fmt: skip
    """The arguments' SQL, cast for the UDF; `expected` lists the accepted KQL types of each (every cell
    function passes here: the cell UDFs are registered on the first)."""
    compiler.engine.ensure_geo("cells")
    name = name_text(node["callee"])
    if not required <= len(arguments) <= len(expected):
        raise EmulatorError("EMU006", f"wrong number of arguments for '{name}'", offset_of(node))
    compiled = []
    for argument, kinds in zip(arguments, expected, strict=False):
        sql, kind = compiler.expr(argument, columns)
        if kind not in kinds:
            raise compiler.unsupported(f"'{name}' with an argument of type {kind}", argument)
        cast = {"string": "VARCHAR", "dynamic": "VARCHAR"}.get(kinds[0], "DOUBLE" if kinds == _NUMBERS else "BIGINT")
        compiled.append(f"CAST({sql} AS {cast})")
    return compiled


def _point_to_cell(udf: str, default_level: int) -> Handler:
    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        texts = _arguments(compiler, arguments, columns, node, [_NUMBERS, _NUMBERS, _INTEGERS], 2)
        level = texts[2] if len(texts) > 2 else f"CAST({default_level} AS BIGINT)"
        return f"coalesce({udf}({texts[0]}, {texts[1]}, {level}), '')", "string"

    return handler


def _from_token(udf: str, kind: str) -> Handler:
    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        (token,) = _arguments(compiler, arguments, columns, node, [("string",)], 1)
        sql = f"{udf}({token})"
        return (f"coalesce({sql}, '')" if kind == "string" else sql), kind

    return handler


def _token_and_optional_level(udf: str, kind: str) -> Handler:
    """f(token[, level]): without the level, the one-argument UDF `udf`1 applies the default."""

    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        texts = _arguments(compiler, arguments, columns, node, [("string",), _INTEGERS], 1)
        sql = f"{udf}({texts[0]}, {texts[1]})" if len(texts) > 1 else f"{udf}1({texts[0]})"
        return (f"coalesce({sql}, '')" if kind == "string" else sql), kind

    return handler


def _rings(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    token, distance = _arguments(compiler, arguments, columns, node, [("string",), _INTEGERS], 2)
    return f"kql_h3cell_rings({token}, {distance})", "dynamic"


def _polygon_to_s2cells(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    texts = _arguments(compiler, arguments, columns, node, [("dynamic",), _INTEGERS], 1)
    level = texts[1] if len(texts) > 1 else f"CAST({S2_DEFAULT_LEVEL} AS BIGINT)"
    return f"kql_polygon_s2cells({texts[0]}, {level})", "dynamic"


register("geo_point_to_geohash")(_point_to_cell("kql_geohash", GEOHASH_DEFAULT_ACCURACY))
register("geo_point_to_s2cell")(_point_to_cell("kql_s2cell", S2_DEFAULT_LEVEL))
register("geo_point_to_h3cell")(_point_to_cell("kql_h3cell", H3_DEFAULT_RESOLUTION))
register("geo_geohash_to_central_point")(_from_token("kql_geohash_center", "dynamic"))
register("geo_geohash_to_polygon")(_from_token("kql_geohash_polygon", "dynamic"))
register("geo_geohash_neighbors")(_from_token("kql_geohash_neighbors", "dynamic"))
register("geo_s2cell_to_central_point")(_from_token("kql_s2cell_center", "dynamic"))
register("geo_s2cell_to_polygon")(_from_token("kql_s2cell_polygon", "dynamic"))
register("geo_s2cell_neighbors")(_from_token("kql_s2cell_neighbors", "dynamic"))
register("geo_h3cell_to_central_point")(_from_token("kql_h3cell_center", "dynamic"))
register("geo_h3cell_to_polygon")(_from_token("kql_h3cell_polygon", "dynamic"))
register("geo_h3cell_level")(_from_token("kql_h3cell_level", "int"))
register("geo_h3cell_neighbors")(_from_token("kql_h3cell_neighbors", "dynamic"))
register("geo_h3cell_parent")(_token_and_optional_level("kql_h3cell_parent", "string"))
register("geo_h3cell_children")(_token_and_optional_level("kql_h3cell_children", "dynamic"))
register("geo_h3cell_rings")(_rings)
register("geo_polygon_to_s2cells")(_polygon_to_s2cells)
