"""Unions and intersections of shapes computed by Google's S2 library (the s2geometry bindings).

Kusto's geo functions are built on S2, and S2's own operations reproduce the reference pages'
answers vertex for vertex (including where each output ring starts):

- geo_union_polygons_array: S2Polygon::DestructiveUnion, i.e. repeatedly the union
  (S2Polygon::InitToUnion) of the two polygons with the fewest vertices;
- geo_intersection_2polygons: S2BooleanOperation INTERSECTION into an S2PolygonLayer;
- geo_intersection_line_with_polygon: S2Polygon::IntersectWithPolyline.

Only results whose shape the pages show are printed (one ring; one or more lines); the rest stay
refused. The native library is imported lazily, so the rest of the emulator never loads it.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from .spherical import (
    GeoRefusal,
    Polygon,
    coordinates_json,
    edge_distance2,
    json_text,
    loop_edges,
    parse_json,
    parse_line_coordinates,
    parse_polygon_coordinates,
    polygons_of,
    shape_type,
)

Coordinate = tuple[float, float]  # (longitude, latitude)
Rings = list[list[Coordinate]]  # a polygon: shell first, then holes; closing vertex dropped


@functools.cache
def _s2() -> ModuleType:
    import s2geometry  # lazy: a native library only these operations need

    return s2geometry


def _point(longitude: float, latitude: float) -> Any:
    return _s2().S2LatLng.FromDegrees(latitude, longitude).ToPoint()


def _lnglat(point: Any) -> list[float]:
    latlng = _s2().S2LatLng(point)
    return [latlng.lng().degrees(), latlng.lat().degrees()]


def _polygon(rings: Rings) -> Any:
    """An S2Polygon; each ring bounds the smaller of its two regions (S2Loop::Normalize)."""
    s2 = _s2()
    loops = []
    for ring in rings:
        loop = s2.S2Loop([_point(*c) for c in ring])
        loop.Normalize()
        if not loop.IsValid():
            raise GeoRefusal("a polygon ring S2 rejects")
        loops.append(loop)
    polygon = s2.S2Polygon()
    polygon.InitNested(loops)
    if not polygon.IsValid():
        raise GeoRefusal("a polygon S2 rejects")
    return polygon


def _union(first: Any, second: Any) -> Any:
    result = _s2().S2Polygon()
    result.InitToUnion(first, second)
    return result


def _destructive_union(polygons: list[Any]) -> Any:
    """S2Polygon::DestructiveUnion: a multimap keyed by vertex count (ties in insertion order);
    the two first polygons are united and the union goes back with the sum of their counts."""
    queue = [(polygon.num_vertices(), order, polygon) for order, polygon in enumerate(polygons)]
    inserted = len(queue)
    while len(queue) > 1:
        queue.sort(key=lambda item: (item[0], item[1]))
        (first_size, _, first), (second_size, _, second) = queue[0], queue[1]
        queue = [*queue[2:], (first_size + second_size, inserted, _union(first, second))]
        inserted += 1
    return queue[0][2]


def _single_ring(polygon: Any, what: str) -> list[list[float]]:
    """The polygon's one loop as a closed GeoJSON ring; other shapes are not documented."""
    if polygon.num_loops() != 1:
        raise GeoRefusal(f"{what} with other than one ring")
    loop = polygon.loop(0)
    ring = [_lnglat(loop.vertex(i)) for i in range(loop.num_vertices())]
    return [*ring, ring[0]]


def _polygons_rings(shape: Any) -> list[Rings]:
    """A valid Polygon or MultiPolygon's polygons, as rings without their closing vertices."""
    coordinates = parse_polygon_coordinates(shape)
    assert coordinates is not None  # the caller checked validity
    return coordinates


def union_polygons_json(items: list[Any]) -> str:
    """geo_union_polygons_array of valid polygons: their union's one ring."""
    if not items or any(shape_type(item) != "Polygon" for item in items):
        # How Kusto queues a MultiPolygon's parts for DestructiveUnion is not documented.
        raise GeoRefusal("geo_union_polygons_array of an empty array or of MultiPolygons")
    union = _destructive_union([_polygon(_polygons_rings(item)[0]) for item in items])
    ring = _single_ring(union, "a union of polygons")
    return json_text({"type": "Polygon", "coordinates": [coordinates_json(ring)]})


def union_perimeter_radians(shape_text: str) -> float:
    """The boundary length of a valid MultiPolygon's union, as an angle (S1Angle of each edge)."""
    s2 = _s2()
    union = _destructive_union([_polygon(p) for p in _polygons_rings(parse_json(shape_text))])
    total = 0.0
    for index in range(union.num_loops()):
        loop = union.loop(index)
        count = loop.num_vertices()
        for i in range(count):
            total += s2.S1Angle(loop.vertex(i), loop.vertex((i + 1) % count)).radians()
    return total


def _shape_index(polygon: Any) -> Any:
    index = _s2().MutableS2ShapeIndex()
    index.Add(polygon)
    return index


def _single_polygon(shape_text: str, what: str) -> Rings:
    polygons = _polygons_rings(parse_json(shape_text))
    if len(polygons) != 1:
        raise GeoRefusal(f"{what} of a MultiPolygon")
    return polygons[0]


def _near_other_boundary(first: list[Polygon], second: list[Polygon]) -> bool:
    """Whether a vertex of one polygon lies almost on the other's boundary without being its vertex:
    there the snap radius (S2Polygon's merge radius, or none) would decide the result."""
    for vertices_of, edges_of in ((first, second), (second, first)):
        own = {v for polygon in edges_of for loop in polygon for v in loop}
        edges = [edge for polygon in edges_of for loop in polygon for edge in loop_edges(loop)]
        for v in (v for polygon in vertices_of for loop in polygon for v in loop if v not in own):
            if any(edge_distance2(v, a, b) < 1e-24 for a, b in edges):
                return True
    return False


def intersection_2polygons_json(first_text: str, second_text: str) -> str:
    """geo_intersection_2polygons of valid polygons that meet: S2BooleanOperation's one ring."""
    what = "geo_intersection_2polygons"
    first, second = _single_polygon(first_text, what), _single_polygon(second_text, what)
    parsed_first, parsed_second = polygons_of(first_text), polygons_of(second_text)
    assert parsed_first is not None and parsed_second is not None
    if _near_other_boundary(parsed_first, parsed_second):
        raise GeoRefusal(f"{what} of polygons whose boundaries nearly touch")
    s2 = _s2()
    result = s2.S2Polygon()
    operation = s2.S2BooleanOperation(s2.S2BooleanOperation.OpType_INTERSECTION, s2.S2PolygonLayer(result))
    if not operation.Build(_shape_index(_polygon(first)), _shape_index(_polygon(second))):
        raise GeoRefusal(f"{what} of polygons S2 cannot intersect")
    ring = _single_ring(result, "an intersection of polygons")
    return json_text({"type": "Polygon", "coordinates": [coordinates_json(ring)]})


def intersection_line_with_polygon_json(line_text: str, polygon_text: str) -> str:
    """geo_intersection_line_with_polygon of a valid line and polygon that meet: the pieces of the
    line inside the polygon (S2Polygon::IntersectWithPolyline), in order along the line."""
    what = "geo_intersection_line_with_polygon"
    lines = parse_line_coordinates(parse_json(line_text))
    assert lines is not None
    if len(lines) != 1:
        raise GeoRefusal(f"{what} of a MultiLineString")
    s2 = _s2()
    polyline = s2.S2Polyline()
    polyline.InitFromS2Points([_point(*c) for c in lines[0]])
    found = _polygon(_single_polygon(polygon_text, what)).IntersectWithPolyline(polyline)
    pieces = [[_lnglat(piece.vertex(i)) for i in range(piece.num_vertices())] for piece in found]
    if not pieces or any(len(piece) < 2 for piece in pieces):
        raise GeoRefusal(f"{what} where they meet at a point")
    if len(pieces) == 1:
        return json_text({"type": "LineString", "coordinates": coordinates_json(pieces[0])})
    return json_text({"type": "MultiLineString", "coordinates": [coordinates_json(p) for p in pieces]})
