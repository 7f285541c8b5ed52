"""Geospatial shape functions and the geo_polygon_lookup / geo_line_lookup plugins -> SQL.

The math lives in emulator/geo/shapes.py as Python UDFs (kql_geo_*); dynamic values are passed
to them as JSON text and come back as JSON text. Each handler checks its arity and argument types
and refuses what the UDFs do not model (the spheroid distance, for one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...kql.names import name_text, path_name
from ...kql.syntax import Node
from ..errors import EmulatorError
from ..sql import quote_name
from .registry import FUNCTIONS, Columns, Handler

if TYPE_CHECKING:
    from ..interface import Compiler

# Argument kinds: r = real, d = dynamic (a GeoJSON shape or an array of them), s = string, b = bool.
_NUMERIC = ("real", "long", "int", "decimal")


def _offset(node: Node) -> int:
    token = node.first_token()
    return token.start if token is not None else 0


def _argument(compiler: Compiler, node: Node, columns: Columns, expected: str, function: str) -> str:
    sql, kind = compiler.expr(node, columns)
    if kind == "unknown" and sql == "NULL":  # a bare null literal
        return "NULL"
    if expected == "r":
        if kind in _NUMERIC:
            return f"CAST({sql} AS DOUBLE)"
        if kind == "dynamic":
            return compiler.from_dynamic(sql, "real")
    elif expected == "d":
        if kind == "dynamic":
            return f"CAST({sql} AS VARCHAR)"
    elif expected == "s":
        if kind == "string":
            return sql
        if kind == "dynamic":
            return compiler.as_string(sql, kind)
    elif expected == "b" and kind == "bool":
        return sql
    raise compiler.unsupported(f"a {kind} argument to {function}()", node)


def _shape_function(udf: str, signature: str, result: str, optional: tuple[tuple[str, str], ...] = ()) -> Handler:
    """signature: the required arguments' kinds; optional: (kind, SQL when omitted) of trailing arguments."""

    def handler(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
        compiler.engine.ensure_geo("shapes")
        function = name_text(node["callee"])
        if not len(signature) <= len(arguments) <= len(signature) + len(optional):
            raise EmulatorError("EMU006", f"wrong number of arguments for '{function}'", _offset(node))
        kinds = signature + "".join(kind for kind, _ in optional)
        texts = [_argument(compiler, a, columns, kinds[i], function) for i, a in enumerate(arguments)]
        texts += [default for _, default in optional[len(arguments) - len(signature) :]]
        call = f"{udf}({', '.join(texts)})"
        if result == "dynamic":
            return f"CAST({call} AS JSON)", "dynamic"
        return call, result

    return handler


def _distance_2points(compiler: Compiler, arguments: list[Node], columns: Columns, node: Node) -> tuple[str, str]:
    if len(arguments) == 5:
        if arguments[4].text().strip().lower() != "false":
            raise compiler.unsupported("geo_distance_2points() on the spheroid (use_spheroid)", arguments[4])
        arguments = arguments[:4]
    return _shape_function("kql_geo_distance_2points", "rrrr", "real")(compiler, arguments, columns, node)


# Documented defaults of omitted arguments: a tolerance of 10 meters, preserve_crossing false.
_TOLERANCE = ("r", "CAST(10 AS DOUBLE)")
_NO_CROSSING = ("b", "false")
_NO_TOLERANCE = ("r", "CAST(NULL AS DOUBLE)")  # buffers: the UDF applies its default


_HANDLERS: dict[str, Handler] = {
    "geo_distance_2points": _distance_2points,
    "geo_point_in_circle": _shape_function("kql_geo_point_in_circle", "rrrrr", "bool"),
    "geo_angle": _shape_function("kql_geo_angle", "rrrrrr", "real"),
    "geo_azimuth": _shape_function("kql_geo_azimuth", "rrrr", "real"),
    "geo_line_length": _shape_function("kql_geo_line_length", "d", "real"),
    "geo_polygon_perimeter": _shape_function("kql_geo_polygon_perimeter", "d", "real"),
    "geo_polygon_area": _shape_function("kql_geo_polygon_area", "d", "real"),
    "geo_polygon_centroid": _shape_function("kql_geo_polygon_centroid", "d", "dynamic"),
    "geo_point_in_polygon": _shape_function("kql_geo_point_in_polygon", "rrd", "bool"),
    "geo_distance_point_to_line": _shape_function("kql_geo_distance_point_to_line", "rrd", "real"),
    "geo_closest_point_on_line": _shape_function("kql_geo_closest_point_on_line", "rrd", "dynamic"),
    "geo_distance_point_to_polygon": _shape_function("kql_geo_distance_point_to_polygon", "rrd", "real"),
    "geo_line_interpolate_point": _shape_function("kql_geo_line_interpolate_point", "dr", "dynamic"),
    "geo_line_densify": _shape_function("kql_geo_line_densify", "d", "dynamic", (_TOLERANCE, _NO_CROSSING)),
    "geo_polygon_densify": _shape_function("kql_geo_polygon_densify", "d", "dynamic", (_TOLERANCE, _NO_CROSSING)),
    "geo_line_simplify": _shape_function("kql_geo_line_simplify", "d", "dynamic", (_TOLERANCE,)),
    "geo_polygon_simplify": _shape_function("kql_geo_polygon_simplify", "d", "dynamic", (_TOLERANCE,)),
    "geo_simplify_polygons_array": _shape_function("kql_geo_simplify_polygons_array", "d", "dynamic", (_TOLERANCE,)),
    "geo_union_lines_array": _shape_function("kql_geo_union_lines_array", "d", "dynamic"),
    "geo_union_polygons_array": _shape_function("kql_geo_union_polygons_array", "d", "dynamic"),
    "geo_line_buffer": _shape_function("kql_geo_line_buffer", "dr", "dynamic", (_NO_TOLERANCE,)),
    "geo_polygon_buffer": _shape_function("kql_geo_polygon_buffer", "dr", "dynamic", (_NO_TOLERANCE,)),
    "geo_intersects_2lines": _shape_function("kql_geo_intersects_2lines", "dd", "bool"),
    "geo_intersects_2polygons": _shape_function("kql_geo_intersects_2polygons", "dd", "bool"),
    "geo_intersects_line_with_polygon": _shape_function("kql_geo_intersects_line_with_polygon", "dd", "bool"),
    "geo_intersection_2lines": _shape_function("kql_geo_intersection_2lines", "dd", "dynamic"),
    "geo_intersection_2polygons": _shape_function("kql_geo_intersection_2polygons", "dd", "dynamic"),
    "geo_intersection_line_with_polygon": _shape_function("kql_geo_intersection_line_with_polygon", "dd", "dynamic"),
    "geo_from_wkt": _shape_function("kql_geo_from_wkt", "s", "dynamic"),
}
FUNCTIONS.update(_HANDLERS)


# ----------------------------------------------------------------- plugins
def _option(node: Node | None) -> bool:
    if node is None:
        return False
    text = node.text().strip().lower()
    if text not in ("true", "false"):
        raise EmulatorError("EMU001", f"the emulator does not support the option value '{text}'", _offset(node))
    return text == "true"


def geo_lookup(compiler: Compiler, node: Node, call: Node, sql: str) -> str:
    """geo_polygon_lookup / geo_line_lookup: a join on containment or distance within a radius."""
    compiler.engine.ensure_geo("shapes")
    name = name_text(call["callee"])
    arguments = call["arguments"]["items"] or []
    positional = [a for a in arguments if a.kind != "Assignment"]
    options = {name_text(a["name"]): a["value"] for a in arguments if a.kind == "Assignment"}
    unknown = set(options) - {"return_unmatched", "lookup_area_radius", "return_lookup_key"}
    if unknown:
        raise compiler.unsupported(f"the {name} option '{sorted(unknown)[0]}'", call)
    is_line = name == "geo_line_lookup"
    if not (5 if is_line else 4) <= len(positional) <= 5:
        raise EmulatorError("EMU006", f"wrong number of arguments for '{name}'", _offset(call))
    lookup_sql = compiler.tabular(positional[0])
    left_columns, lookup_columns = compiler.columns(sql), compiler.columns(lookup_sql)
    key = path_name(positional[1])
    if key not in [n for n, _ in lookup_columns]:
        raise EmulatorError("EMU003", f"unknown column '{key}' in the lookup table of {name}", _offset(positional[1]))
    longitude = _argument(compiler, positional[2], left_columns, "r", name)
    latitude = _argument(compiler, positional[3], left_columns, "r", name)
    radius = _argument(compiler, positional[4], [], "r", name) if len(positional) == 5 else None
    keep_unmatched = _option(options.get("return_unmatched"))
    keep_key = _option(options.get("return_lookup_key"))
    kept_lookup = [(n, k) for n, k in lookup_columns if keep_key or n != key]
    if {n for n, _ in kept_lookup} & {n for n, _ in left_columns}:
        raise compiler.unsupported(f"{name} with a lookup column named like a source column", call)
    left, right = compiler.alias(), compiler.alias()
    source = (f"SELECT *, {longitude} AS __geo_lng, {latitude} AS __geo_lat, row_number() OVER () AS __geo_row "
              f"FROM ({sql}) AS {compiler.alias()}")  # fmt: skip
    shapes = f"SELECT *, CAST({quote_name(key)} AS VARCHAR) AS __geo_shape FROM ({lookup_sql}) AS {compiler.alias()}"
    if is_line:
        predicate = f"kql_geo_line_near({left}.__geo_lng, {left}.__geo_lat, {right}.__geo_shape, {radius})"
    elif radius is not None:
        predicate = f"kql_geo_polygon_near({left}.__geo_lng, {left}.__geo_lat, {right}.__geo_shape, {radius})"
    else:
        predicate = f"kql_geo_polygon_holds({left}.__geo_lng, {left}.__geo_lat, {right}.__geo_shape)"
    selects = [f"{left}.{quote_name(n)} AS {quote_name(n)}" for n, _ in left_columns]
    selects += [f"{right}.{quote_name(n)} AS {quote_name(n)}" for n, _ in kept_lookup]
    join = "LEFT JOIN" if keep_unmatched else "JOIN"
    return (f"SELECT {', '.join(selects)} FROM ({source}) AS {left} {join} ({shapes}) AS {right} ON {predicate} "
            f"ORDER BY {left}.__geo_row")  # fmt: skip


LOOKUP_PLUGINS = {"geo_polygon_lookup": geo_lookup, "geo_line_lookup": geo_lookup}
