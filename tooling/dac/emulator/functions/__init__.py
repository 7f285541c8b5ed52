"""Scalar functions of the emulator: KQL name -> SQL, by family (one module each).

registry.py holds the registry, FUNCTIONS, and the helpers handlers are built from; importing this
package imports the family modules, and each registers its functions there. basic.py comes first:
the functions every query uses, some of which a later family replaces with a fuller version. A
function not registered makes the emulator refuse the query with EMU001, naming it.

    basic          conversions, conditionals, the first string/datetime/JSON/IPv4 functions
    columns        column_ifexists, column_names_of, ingestion_time
    datetime_math  datetime, timespan, math, unit conversion and bitwise functions, todatetime
    dynamic        dynamic (JSON) values: arrays, property bags, sets, packing
    encoding       gzip and punycode (the SQL encodings are in strings)
    geo_cells      geohash, S2 and H3 cells (the math: ../geo/cells.py)
    geo_shapes     lines, polygons and distances, and the geo lookup plugins (the math: ../geo/shapes.py)
    numbers        the beta distribution and format_bytes
    parsing        parse_url, parse_xml, parse_urlquery
    rows           functions of the serialized row order (row_number, prev, ...)
    series         series_* (the math: ../series_math.py)
    strings        strings, regular expressions, base64 and URL encoding, hashes, IPv4 and IPv6
    udfs           the Python UDFs' registration, which several families and the aggregates use
"""

from __future__ import annotations

# Each family registers its functions on import; a later one's function replaces an earlier one's of the
# same name, and basic, the first in this (alphabetical) order, holds those that others refine.
from . import (  # noqa: F401
    basic,
    columns,
    datetime_math,
    dynamic,
    encoding,
    geo_cells,
    geo_shapes,
    numbers,
    parsing,
    rows,
    series,
    strings,
)
from .registry import FUNCTIONS, Columns, Handler, register, simple, with_kinds

__all__ = ["FUNCTIONS", "Columns", "Handler", "register", "simple", "with_kinds"]
