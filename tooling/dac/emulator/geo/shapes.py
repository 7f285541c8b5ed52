"""Geospatial shape functions (lines, polygons, distances) computed the way Kusto does: on a sphere.

Kusto's geospatial functions use S2 geometry: a coordinate becomes a unit vector, edges are
great-circle arcs, and lengths are angles times the earth radius 6,371,010 m. The formulas here
and in spherical.py (the vectors, GeoJSON parsing, edges and loop areas this module builds on)
follow S2's (angle = atan2(|a x b|, a.b), area as a fan of triangles from the loop's first vertex
with l'Huilier's or Girard's formula, true centroids, chord distances to vertices), which is what
makes the results agree with the documented ones to the last printed digit.

Unions and intersections of polygons (and of a line with a polygon) come from S2 itself, in
s2ops.py. Where Kusto's exact output is out of reach (unions of lines, buffers, simplification,
points exactly on a boundary), a function raises GeoRefusal; the UDF turns it into a runtime
error the engine reports as EMU001, never a guessed value. Invalid input gives null, as the
reference pages document.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

import duckdb

from .spherical import (
    GeoRefusal,
    Line,
    Loop,
    Polygon,
    Vector,
    add,
    angle,
    boxes_meet,
    chord_angle,
    coordinates_json,
    cross,
    crossing,
    dot,
    edge_distance2,
    edge_ok,
    json_text,
    lines_of,
    loop_area,
    loop_centroid,
    loop_edges,
    loops_cross,
    normalize,
    orientation,
    parse_json,
    parse_line_coordinates,
    parse_lines,
    parse_polygon_coordinates,
    parse_polygons,
    polygons_of,
    robust_cross,
    scale,
    sub,
    to_lnglat,
    to_vector,
    valid_point,
)

EARTH_RADIUS_METERS = 6371010.0


# ----------------------------------------------------------------- points, distances, containment
def _point_json(point: Vector) -> str:
    longitude, latitude = to_lnglat(point)
    return json_text({"type": "Point", "coordinates": [longitude, latitude]})


def distance_2points(lng1: float, lat1: float, lng2: float, lat2: float) -> float | None:
    if not (valid_point(lng1, lat1) and valid_point(lng2, lat2)):
        return None
    return angle(to_vector(lng1, lat1), to_vector(lng2, lat2)) * EARTH_RADIUS_METERS


def point_in_circle(lng: float, lat: float, center_lng: float, center_lat: float, radius: float) -> bool | None:
    if not (valid_point(lng, lat) and valid_point(center_lng, center_lat)):
        return None
    if not math.isfinite(radius) or radius <= 0:
        return None
    # S2Cap::Contains: the chord to the centre against the chord of the radius
    chord = sub(to_vector(center_lng, center_lat), to_vector(lng, lat))
    angle = min(math.pi, radius / EARTH_RADIUS_METERS)
    limit = 4 * math.sin(0.5 * angle) ** 2
    if abs(dot(chord, chord) - limit) < 1e-15:
        raise GeoRefusal("a point on the circle's edge")
    return dot(chord, chord) <= limit


def _azimuth(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    delta = math.radians(lng2) - math.radians(lng1)
    y = math.sin(delta) * math.cos(phi2)
    x = math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(delta)
    return math.atan2(y, x) % (2 * math.pi)


def _distinct_not_antipodal(first: tuple[float, float], second: tuple[float, float]) -> bool:
    a, b = to_vector(*first), to_vector(*second)
    return a != b and edge_ok(a, b)


def azimuth(lng1: float, lat1: float, lng2: float, lat2: float) -> float | None:
    if not (valid_point(lng1, lat1) and valid_point(lng2, lat2)):
        return None
    if not _distinct_not_antipodal((lng1, lat1), (lng2, lat2)):
        return None
    if abs(lat1) == 90:
        raise GeoRefusal("an azimuth from a pole")
    return _azimuth(lng1, lat1, lng2, lat2)


def angle_at(lng1: float, lat1: float, lng2: float, lat2: float, lng3: float, lat3: float) -> float | None:
    """Clockwise from line [p2, p1] to line [p2, p3], in [0, 2 pi)."""
    points = [(lng1, lat1), (lng2, lat2), (lng3, lat3)]
    if not all(valid_point(*p) for p in points):
        return None
    if not (_distinct_not_antipodal(points[0], points[1]) and _distinct_not_antipodal(points[1], points[2])):
        return None
    if abs(lat2) == 90:
        raise GeoRefusal("an angle at a pole")
    return (_azimuth(lng2, lat2, lng3, lat3) - _azimuth(lng2, lat2, lng1, lat1)) % (2 * math.pi)


def _project(x: Vector, a: Vector, b: Vector) -> tuple[Vector, bool]:
    """S2::Project: the closest point to x on edge AB, and whether it is interior to the edge."""
    c = robust_cross(a, b)
    p = sub(x, scale(c, dot(x, c) / dot(c, c)))
    if dot(cross(c, a), p) > 0 and dot(cross(b, c), p) > 0:  # S2::SimpleCCW(c, a, p), (p, b, c)
        return normalize(p), True
    return (a if dot(sub(x, a), sub(x, a)) <= dot(sub(x, b), sub(x, b)) else b), False


def _closest_edge(x: Vector, edges: list[tuple[Vector, Vector]]) -> tuple[float, Vector, Vector]:
    best: tuple[float, Vector, Vector] | None = None
    for a, b in edges:
        distance2 = edge_distance2(x, a, b)
        if best is None or distance2 < best[0]:
            best = (distance2, a, b)
    assert best is not None
    return best


def _line_edges(lines: list[Line]) -> list[tuple[Vector, Vector]]:
    return [(line[i], line[i + 1]) for line in lines for i in range(len(line) - 1)]


def _single_line(lines: list[Line], what: str) -> Line:
    if len(lines) != 1:
        raise GeoRefusal(f"{what} of a MultiLineString with more than one line")
    return lines[0]


def distance_point_to_line(lng: float, lat: float, shape_text: str) -> float | None:
    lines = lines_of(shape_text)
    if lines is None or not valid_point(lng, lat):
        return None
    line = _single_line(lines, "the distance to the union")
    x = to_vector(lng, lat)
    distance2, a, b = _closest_edge(x, _line_edges([line]))
    if _project(x, a, b)[1]:
        # Documented results pin down the distance to a vertex only (a chord); the interior case is
        # computed by formulas that differ from each other in the last digits.
        raise GeoRefusal("the distance from a point to the inside of a line's edge")
    return chord_angle(distance2) * EARTH_RADIUS_METERS


def closest_point_on_line(lng: float, lat: float, shape_text: str) -> str | None:
    lines = lines_of(shape_text)
    if lines is None or not valid_point(lng, lat):
        return None
    line = _single_line(lines, "the closest point on the union")
    x = to_vector(lng, lat)
    _, a, b = _closest_edge(x, _line_edges([line]))
    return _point_json(_project(x, a, b)[0])


def _winding_inside(x: Vector, loop: Loop) -> bool:
    """Whether x lies in the loop's (smaller, left-hand) region: the turn of the loop seen from x."""
    total = 0.0
    for a, b in loop_edges(loop):
        along = dot(a, b) - dot(x, a) * dot(x, b)
        total += math.atan2(dot(x, cross(a, b)), along)
    return total > math.pi


def _near_boundary(x: Vector, polygon: Polygon) -> bool:
    return any(edge_distance2(x, a, b) < 1e-24 for loop in polygon for a, b in loop_edges(loop))


def _polygon_contains(x: Vector, polygon: Polygon) -> bool:
    if _near_boundary(x, polygon):
        raise GeoRefusal("a point on a polygon's boundary")
    if not _winding_inside(x, polygon[0]):
        return False
    return not any(_winding_inside(x, hole) for hole in polygon[1:])


def point_in_polygon(lng: float, lat: float, shape_text: str) -> bool | None:
    polygons = polygons_of(shape_text)
    if polygons is None or not valid_point(lng, lat):
        return None
    x = to_vector(lng, lat)
    return any(_polygon_contains(x, polygon) for polygon in polygons)


def distance_point_to_polygon(lng: float, lat: float, shape_text: str) -> float | None:
    polygons = polygons_of(shape_text)
    if polygons is None or not valid_point(lng, lat):
        return None
    x = to_vector(lng, lat)
    if any(_polygon_contains(x, polygon) for polygon in polygons):
        return 0.0
    if len(polygons) > 1:
        raise GeoRefusal("the distance to the union of a MultiPolygon's polygons")
    edges = [edge for loop in polygons[0] for edge in loop_edges(loop)]
    _, a, b = _closest_edge(x, edges)
    closest, interior = _project(x, a, b)
    if not interior:
        raise GeoRefusal("the distance from a point to a polygon's vertex")
    return angle(x, closest) * EARTH_RADIUS_METERS


# ----------------------------------------------------------------- measures
def _overlapping_lines(lines: list[Line]) -> bool:
    """Whether two edges lie on one great circle and share more than a point (their union is shorter)."""
    edges = _line_edges(lines)
    for i, (a, b) in enumerate(edges):
        for c, d in edges[i + 1 :]:
            if not boxes_meet(a, b, c, d):
                continue
            if orientation(a, b, c) != 0 or orientation(a, b, d) != 0:
                continue
            if {a, b} == {c, d} or any(
                v not in (p, q) and edge_distance2(v, p, q) < 1e-28 for v, (p, q) in
                ((c, (a, b)), (d, (a, b)), (a, (c, d)), (b, (c, d)))
            ):  # fmt: skip
                return True
    return False


def line_length(shape_text: str) -> float | None:
    lines = lines_of(shape_text)
    if lines is None:
        return None
    if len(lines) > 1 and _overlapping_lines(lines):
        raise GeoRefusal("the length of overlapping lines' union")
    total = 0.0
    for line in lines:
        for index in range(1, len(line)):
            total += angle(line[index - 1], line[index])
    return total * EARTH_RADIUS_METERS


def _disjoint_polygons(polygons: list[Polygon]) -> None:
    """Refuses polygons whose union is not simply their collection (they overlap or touch)."""
    for index, first in enumerate(polygons):
        for second in polygons[index + 1 :]:
            if any(loops_cross(a, b, same=False) for a in first for b in second):
                raise GeoRefusal("the union of overlapping polygons")
            shared = {v for loop in first for v in loop} & {v for loop in second for v in loop}
            if shared:
                raise GeoRefusal("the union of polygons that share a vertex")
            if _polygon_contains(second[0][0], first) or _polygon_contains(first[0][0], second):
                raise GeoRefusal("the union of nested polygons")


def polygon_perimeter(shape_text: str) -> float | None:
    polygons = polygons_of(shape_text)
    if polygons is None:
        return None
    try:
        _disjoint_polygons(polygons)
    except GeoRefusal:  # polygons that meet: the page measures their union's boundary
        from . import s2ops

        return s2ops.union_perimeter_radians(shape_text) * EARTH_RADIUS_METERS
    total = 0.0
    for polygon in polygons:
        for loop in polygon:
            for a, b in loop_edges(loop):
                total += angle(a, b)
    return total * EARTH_RADIUS_METERS


def _without_holes(polygons: list[Polygon], what: str) -> None:
    if any(len(polygon) > 1 for polygon in polygons):
        raise GeoRefusal(f"the {what} of a polygon with holes")


def polygon_area(shape_text: str) -> float | None:
    polygons = polygons_of(shape_text)
    if polygons is None:
        return None
    _disjoint_polygons(polygons)
    _without_holes(polygons, "area")
    total = 0.0
    for polygon in polygons:
        total += loop_area(polygon[0])
    return total * EARTH_RADIUS_METERS * EARTH_RADIUS_METERS


def polygon_centroid(shape_text: str) -> str | None:
    polygons = polygons_of(shape_text)
    if polygons is None:
        return None
    _disjoint_polygons(polygons)
    _without_holes(polygons, "centroid")
    total: Vector = (0.0, 0.0, 0.0)
    for polygon in polygons:
        total = add(total, loop_centroid(polygon[0]))
    return _point_json(normalize(total))


def line_interpolate_point(shape_text: str, fraction: float) -> str | None:
    """S2Polyline::Interpolate: the point at this fraction of the line's length."""
    lines = lines_of(shape_text)
    if lines is None or len(lines) != 1 or not math.isfinite(fraction) or not 0 <= fraction <= 1:
        return None
    line = lines[0]
    if fraction <= 0:
        return _point_json(line[0])
    lengths = [angle(line[i - 1], line[i]) for i in range(1, len(line))]
    total = 0.0
    for length in lengths:
        total += length
    target = fraction * total
    for index, length in enumerate(lengths, start=1):
        if target < length:
            a, b = line[index - 1], line[index]
            direction = normalize(cross(robust_cross(a, b), a))
            point = add(scale(a, math.cos(target)), scale(direction, math.sin(target)))
            return _point_json(normalize(point))
        target -= length
    return _point_json(line[-1])


# ----------------------------------------------------------------- densify
def _tolerance(value: float | None, low: float, high: float) -> float | None:
    if value is None or not math.isfinite(value) or not low <= value <= high:
        return None
    return value


def _densified_edge(first: tuple[float, float], second: tuple[float, float], tolerance: float
                    ) -> list[tuple[float, float]]:  # fmt: skip
    """The planar edge cut in halves until each half's midpoint lies within tolerance of its geodesic."""
    if abs(second[0] - first[0]) > 180:
        raise GeoRefusal("densifying an edge that crosses the antimeridian")
    middle = ((first[0] + second[0]) / 2, (first[1] + second[1]) / 2)
    deviation = chord_angle(edge_distance2(to_vector(*middle), to_vector(*first), to_vector(*second)))
    deviation *= EARTH_RADIUS_METERS
    if abs(deviation - tolerance) < 1e-6 * tolerance:
        raise GeoRefusal("densifying an edge whose deviation is at the tolerance")
    if deviation <= tolerance:
        return [first]
    return _densified_edge(first, middle, tolerance) + _densified_edge(middle, second, tolerance)


def _densified(vertices: list[tuple[float, float]], tolerance: float) -> list[list[float]]:
    result: list[tuple[float, float]] = []
    for first, second in itertools.pairwise(vertices):
        result.extend(_densified_edge(first, second, tolerance))
    result.append(vertices[-1])
    return [list(p) for p in result]


def line_densify(shape_text: str, tolerance: float | None, preserve_crossing: bool | None) -> str | None:
    if preserve_crossing:
        raise GeoRefusal("geo_line_densify with preserve_crossing")
    lines = parse_line_coordinates(parse_json(shape_text))
    tolerance = _tolerance(tolerance, 0.1, 10000)
    if lines is None or tolerance is None:
        return None
    densified = [coordinates_json(_densified(line, tolerance)) for line in lines]
    if parse_json(shape_text)["type"] == "LineString":
        return json_text({"type": "LineString", "coordinates": densified[0]})
    return json_text({"type": "MultiLineString", "coordinates": densified})


def polygon_densify(shape_text: str, tolerance: float | None, preserve_crossing: bool | None) -> str | None:
    if preserve_crossing:
        raise GeoRefusal("geo_polygon_densify with preserve_crossing")
    shape = parse_json(shape_text)
    tolerance = _tolerance(tolerance, 0.1, 10000)
    if tolerance is None or parse_polygons(shape) is None:
        return None
    polygons = parse_polygon_coordinates(shape)
    assert polygons is not None
    densified = [[coordinates_json(_densified(ring + ring[:1], tolerance)) for ring in rings] for rings in polygons]
    if shape["type"] == "Polygon":
        return json_text({"type": "Polygon", "coordinates": densified[0]})
    return json_text({"type": "MultiPolygon", "coordinates": densified})


# ----------------------------------------------------------------- simplify, unions, buffers: nulls only
def _all_within(points: list[Vector], meters: float) -> bool:
    """Whether every two points are closer than meters: simplifying then leaves no shape."""
    limit = meters / EARTH_RADIUS_METERS
    return all(angle(a, b) < limit * (1 - 1e-9) for i, a in enumerate(points) for b in points[i + 1 :])


def _simplify_tolerance(value: float | None) -> float | None:
    """Negative tolerances are invalid; the pages disagree on the upper limit, so it is not applied."""
    return None if value is None or not math.isfinite(value) or value < 0 else value


def line_simplify(shape_text: str, tolerance: float | None) -> str | None:
    lines = lines_of(shape_text)
    tolerance = _simplify_tolerance(tolerance)
    if lines is None or tolerance is None:
        return None
    if _all_within([v for line in lines for v in line], tolerance):
        return None  # no two vertices may be closer than the tolerance: nothing is left
    raise GeoRefusal("geo_line_simplify (S2's simplification)")


def polygon_simplify(shape_text: str, tolerance: float | None) -> str | None:
    polygons = polygons_of(shape_text)
    tolerance = _simplify_tolerance(tolerance)
    if polygons is None or tolerance is None:
        return None
    if _all_within([v for polygon in polygons for loop in polygon for v in loop], tolerance):
        return None
    raise GeoRefusal("geo_polygon_simplify (S2's simplification)")


def _array(text: str) -> list[Any] | None:
    value = parse_json(text)
    return value if isinstance(value, list) else None


def simplify_polygons_array(array_text: str, tolerance: float | None) -> str | None:
    items = _array(array_text)
    tolerance = _simplify_tolerance(tolerance)
    if items is None or tolerance is None:
        return None
    parsed = [parse_polygons(item) for item in items]
    if not parsed or any(p is None for p in parsed):
        return None
    vertices = [v for polygons in parsed for polygon in polygons or [] for loop in polygon for v in loop]
    if _all_within(vertices, tolerance):
        return None
    raise GeoRefusal("geo_simplify_polygons_array (S2's simplification)")


def union_lines_array(array_text: str) -> str | None:
    items = _array(array_text)
    if items is None or any(parse_lines(item) is None for item in items):
        return None
    raise GeoRefusal("geo_union_lines_array (S2's union of lines)")


def union_polygons_array(array_text: str) -> str | None:
    items = _array(array_text)
    if items is None or any(parse_polygons(item) is None for item in items):
        return None
    from . import s2ops  # S2's DestructiveUnion; the native library loads only when needed

    return s2ops.union_polygons_json(items)


def _buffer_arguments_valid(radius: float | None, tolerance: float | None) -> bool:
    if radius is None or not math.isfinite(radius) or radius <= 0:
        return False
    if tolerance is not None and not (math.isfinite(tolerance) and tolerance >= radius * 1e-6):
        raise GeoRefusal("a buffer tolerance below 0.0001% of the radius")
    return True


def line_buffer(shape_text: str, radius: float | None, tolerance: float | None) -> str | None:
    if lines_of(shape_text) is None or not _buffer_arguments_valid(radius, tolerance):
        return None
    raise GeoRefusal("geo_line_buffer (S2's buffering)")


def polygon_buffer(shape_text: str, radius: float | None, tolerance: float | None) -> str | None:
    if polygons_of(shape_text) is None or not _buffer_arguments_valid(radius, tolerance):
        return None
    raise GeoRefusal("geo_polygon_buffer (S2's buffering)")


# ----------------------------------------------------------------- intersections
def _lines_meet(first: list[Line], second: list[Line]) -> bool:
    first_vertices = {v for line in first for v in line}
    if any(v in first_vertices for line in second for v in line):
        return True
    for a, b in _line_edges(first):
        for c, d in _line_edges(second):
            result = crossing(a, b, c, d)
            if result == 1:
                return True
            if result == 0:
                raise GeoRefusal("lines that touch without crossing")
    return False


def intersects_2lines(first_text: str, second_text: str) -> bool | None:
    first, second = lines_of(first_text), lines_of(second_text)
    if first is None or second is None:
        return None
    return _lines_meet(first, second)


def _polygons_meet(first: list[Polygon], second: list[Polygon]) -> bool:
    first_vertices = {v for polygon in first for loop in polygon for v in loop}
    if any(v in first_vertices for polygon in second for loop in polygon for v in loop):
        return True  # these polygons contain their vertices
    for p in first:
        for q in second:
            if any(loops_cross(a, b, same=False) for a in p for b in q):
                return True
    vertices_first = [v for polygon in first for loop in polygon for v in loop]
    vertices_second = [v for polygon in second for loop in polygon for v in loop]
    return any(_polygon_contains(v, q) for v in vertices_first for q in second) or any(
        _polygon_contains(v, p) for v in vertices_second for p in first
    )


def intersects_2polygons(first_text: str, second_text: str) -> bool | None:
    first, second = polygons_of(first_text), polygons_of(second_text)
    if first is None or second is None:
        return None
    return _polygons_meet(first, second)


def _line_meets_polygons(lines: list[Line], polygons: list[Polygon]) -> bool:
    polygon_vertices = {v for polygon in polygons for loop in polygon for v in loop}
    if any(v in polygon_vertices for line in lines for v in line):
        raise GeoRefusal("a line through a polygon's vertex")
    polygon_edges = [edge for polygon in polygons for loop in polygon for edge in loop_edges(loop)]
    for a, b in _line_edges(lines):
        for c, d in polygon_edges:
            result = crossing(a, b, c, d)
            if result == 1:
                return True
            if result == 0:
                raise GeoRefusal("a line that touches a polygon's boundary")
    return any(_polygon_contains(v, polygon) for line in lines for v in line for polygon in polygons)


def intersects_line_with_polygon(line_text: str, polygon_text: str) -> bool | None:
    lines, polygons = lines_of(line_text), polygons_of(polygon_text)
    if lines is None or polygons is None:
        return None
    return _line_meets_polygons(lines, polygons)


_EMPTY_COLLECTION = json_text({"type": "GeometryCollection", "geometries": []})


def _empty_unless_meeting(meets: bool | None, what: str) -> str | None:
    """The intersection of shapes that do not meet is empty; of shapes that meet, S2's boolean
    operations decide the coordinates, which dac cannot reproduce exactly: refused."""
    if meets is None:
        return None
    if meets:
        raise GeoRefusal(what)
    return _EMPTY_COLLECTION


def intersection_2lines(first_text: str, second_text: str) -> str | None:
    meets = intersects_2lines(first_text, second_text)
    return _empty_unless_meeting(meets, "geo_intersection_2lines of lines that meet")


def intersection_2polygons(first_text: str, second_text: str) -> str | None:
    meets = intersects_2polygons(first_text, second_text)
    if not meets:
        return None if meets is None else _EMPTY_COLLECTION
    from . import s2ops  # S2BooleanOperation

    return s2ops.intersection_2polygons_json(first_text, second_text)


def intersection_line_with_polygon(line_text: str, polygon_text: str) -> str | None:
    meets = intersects_line_with_polygon(line_text, polygon_text)  # refuses lines that touch vertices
    if not meets:
        return None if meets is None else _EMPTY_COLLECTION
    from . import s2ops  # S2Polygon::IntersectWithPolyline

    return s2ops.intersection_line_with_polygon_json(line_text, polygon_text)


# ----------------------------------------------------------------- lookup plugins' predicates
def _lookup_point(lng: float | None, lat: float | None) -> Vector:
    if not valid_point(lng, lat):
        raise GeoRefusal("a geo lookup of a missing or invalid coordinate")
    return to_vector(lng, lat)  # type: ignore[arg-type]


def _within_radius(x: Vector, edges: list[tuple[Vector, Vector]], radius: float | None) -> bool:
    if radius is None or not math.isfinite(radius) or radius < 0:
        raise GeoRefusal("a geo lookup radius that is missing or negative")
    distance = chord_angle(_closest_edge(x, edges)[0]) * EARTH_RADIUS_METERS
    if abs(distance - radius) <= 1e-9 * max(radius, 1.0):
        raise GeoRefusal("a geo lookup location at the radius's edge")
    return distance <= radius


def polygon_holds(lng: float | None, lat: float | None, shape_text: str | None) -> bool:
    polygons = polygons_of(shape_text) if shape_text is not None else None
    if polygons is None:
        raise GeoRefusal("geo_polygon_lookup with an invalid polygon")
    x = _lookup_point(lng, lat)
    return any(_polygon_contains(x, polygon) for polygon in polygons)


def polygon_near(lng: float | None, lat: float | None, shape_text: str | None, radius: float | None) -> bool:
    if polygon_holds(lng, lat, shape_text):
        return True
    polygons = polygons_of(shape_text)  # type: ignore[arg-type]
    edges = [edge for polygon in polygons or [] for loop in polygon for edge in loop_edges(loop)]
    return _within_radius(_lookup_point(lng, lat), edges, radius)


def line_near(lng: float | None, lat: float | None, shape_text: str | None, radius: float | None) -> bool:
    lines = lines_of(shape_text) if shape_text is not None else None
    if lines is None:
        raise GeoRefusal("geo_line_lookup with an invalid line")
    return _within_radius(_lookup_point(lng, lat), _line_edges(lines), radius)


# ----------------------------------------------------------------- WKT
_WKT_TOKEN = re.compile(r"\s*([A-Za-z]+|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[(),])")


class _WktError(Exception):
    pass


def _wkt_tokens(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _WKT_TOKEN.match(text, position)
        if match is None:
            raise _WktError
        tokens.append(match.group(1))
        position = match.end()
    return tokens


class _WktReader:
    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise _WktError
        self.position += 1
        return token

    def number(self) -> int | float:
        token = self.take()
        try:
            value = float(token)
        except ValueError:
            raise _WktError from None
        return int(token) if re.fullmatch(r"[-+]?\d+", token) else value

    def coordinate(self) -> list[int | float]:
        longitude, latitude = self.number(), self.number()
        following = self.peek()
        if following is not None and following not in (",", ")", "(") and not following.isalpha():
            raise GeoRefusal("WKT coordinates with Z or M values")
        if not valid_point(float(longitude), float(latitude)):
            raise GeoRefusal("WKT coordinates out of the longitude/latitude ranges")
        return [longitude, latitude]

    def sequence(self, item: Callable[[], Any]) -> list[Any]:
        self.take("(")
        items = [item()]
        while self.peek() == ",":
            self.take(",")
            items.append(item())
        self.take(")")
        return items

    def point_in_multipoint(self) -> list[int | float]:
        if self.peek() == "(":
            self.take("(")
            coordinate = self.coordinate()
            self.take(")")
            return coordinate
        return self.coordinate()

    def geometry(self) -> dict[str, Any]:
        keyword = self.take().upper()
        if self.peek() is not None and self.peek().upper() in ("EMPTY", "Z", "M", "ZM"):  # type: ignore[union-attr]
            raise GeoRefusal(f"WKT {keyword} {self.peek()}")
        if keyword == "POINT":
            return {"type": "Point", "coordinates": self.sequence(self.coordinate)[0]}
        if keyword == "LINESTRING":
            return {"type": "LineString", "coordinates": self.sequence(self.coordinate)}
        if keyword == "POLYGON":
            return {"type": "Polygon", "coordinates": self.sequence(lambda: self.sequence(self.coordinate))}
        if keyword == "MULTIPOINT":
            return {"type": "MultiPoint", "coordinates": self.sequence(self.point_in_multipoint)}
        if keyword == "MULTILINESTRING":
            return {"type": "MultiLineString", "coordinates": self.sequence(lambda: self.sequence(self.coordinate))}
        if keyword == "MULTIPOLYGON":
            rings = lambda: self.sequence(lambda: self.sequence(self.coordinate))  # noqa: E731
            return {"type": "MultiPolygon", "coordinates": self.sequence(rings)}
        if keyword == "GEOMETRYCOLLECTION":
            return {"type": "GeometryCollection", "geometries": self.sequence(self.geometry)}
        raise _WktError


def _check_wkt_shape(shape: dict[str, Any]) -> None:
    """Refuses shapes whose validity rules in geo_from_wkt() the reference does not spell out."""
    kind = shape["type"]
    if kind == "GeometryCollection":
        for inner in shape["geometries"]:
            _check_wkt_shape(inner)
    elif kind in ("LineString", "MultiLineString"):
        lines = [shape["coordinates"]] if kind == "LineString" else shape["coordinates"]
        if any(len(line) < 2 for line in lines):
            raise GeoRefusal("a WKT line with fewer than two points")
    elif kind in ("Polygon", "MultiPolygon"):
        polygons = [shape["coordinates"]] if kind == "Polygon" else shape["coordinates"]
        for rings in polygons:
            for ring in rings:
                if len(ring) < 4 or ring[0] != ring[-1]:
                    raise GeoRefusal("a WKT ring that is not closed or has fewer than four points")


def from_wkt(text: str) -> str | None:
    try:
        reader = _WktReader(_wkt_tokens(text))
        shape = reader.geometry()
        if reader.peek() is not None:
            raise _WktError
    except _WktError:
        return None
    _check_wkt_shape(shape)
    return json_text(shape)


# ----------------------------------------------------------------- registration
def _guarded(function: Callable[..., Any]) -> Callable[..., Any]:
    """A UDF body: GeoRefusal becomes an error the engine reports as EMU001."""

    @wraps(function)  # DuckDB counts the parameters of the wrapped function
    def run(*arguments: Any) -> Any:
        try:
            return function(*arguments)
        except GeoRefusal as exc:
            raise ValueError(f"the emulator does not support {exc}") from None

    return run


def _nullable(function: Callable[..., Any], required: int) -> Callable[..., Any]:
    """The first `required` arguments null -> null; optional ones may be null (then defaulted)."""

    @wraps(function)
    def run(*arguments: Any) -> Any:
        if any(a is None for a in arguments[:required]):
            return None
        return function(*arguments)

    return run


_D, _V, _B = "DOUBLE", "VARCHAR", "BOOLEAN"
UDFS: dict[str, tuple[Callable[..., Any], list[str], str]] = {
    "kql_geo_distance_2points": (distance_2points, [_D] * 4, _D),
    "kql_geo_point_in_circle": (point_in_circle, [_D] * 5, _B),
    "kql_geo_angle": (angle_at, [_D] * 6, _D),
    "kql_geo_azimuth": (azimuth, [_D] * 4, _D),
    "kql_geo_line_length": (line_length, [_V], _D),
    "kql_geo_polygon_perimeter": (polygon_perimeter, [_V], _D),
    "kql_geo_polygon_area": (polygon_area, [_V], _D),
    "kql_geo_polygon_centroid": (polygon_centroid, [_V], _V),
    "kql_geo_point_in_polygon": (point_in_polygon, [_D, _D, _V], _B),
    "kql_geo_distance_point_to_line": (distance_point_to_line, [_D, _D, _V], _D),
    "kql_geo_closest_point_on_line": (closest_point_on_line, [_D, _D, _V], _V),
    "kql_geo_distance_point_to_polygon": (distance_point_to_polygon, [_D, _D, _V], _D),
    "kql_geo_line_interpolate_point": (line_interpolate_point, [_V, _D], _V),
    "kql_geo_line_simplify": (line_simplify, [_V, _D], _V),
    "kql_geo_polygon_simplify": (polygon_simplify, [_V, _D], _V),
    "kql_geo_simplify_polygons_array": (simplify_polygons_array, [_V, _D], _V),
    "kql_geo_union_lines_array": (union_lines_array, [_V], _V),
    "kql_geo_union_polygons_array": (union_polygons_array, [_V], _V),
    "kql_geo_intersects_2lines": (intersects_2lines, [_V, _V], _B),
    "kql_geo_intersects_2polygons": (intersects_2polygons, [_V, _V], _B),
    "kql_geo_intersects_line_with_polygon": (intersects_line_with_polygon, [_V, _V], _B),
    "kql_geo_intersection_2lines": (intersection_2lines, [_V, _V], _V),
    "kql_geo_intersection_2polygons": (intersection_2polygons, [_V, _V], _V),
    "kql_geo_intersection_line_with_polygon": (intersection_line_with_polygon, [_V, _V], _V),
    "kql_geo_from_wkt": (from_wkt, [_V], _V),
}
# Functions with optional arguments: a null optional argument is passed through (not null -> null).
UDFS_WITH_OPTIONAL: dict[str, tuple[Callable[..., Any], list[str], str, int]] = {
    "kql_geo_line_densify": (line_densify, [_V, _D, _B], _V, 1),
    "kql_geo_polygon_densify": (polygon_densify, [_V, _D, _B], _V, 1),
    "kql_geo_line_buffer": (line_buffer, [_V, _D, _D], _V, 1),
    "kql_geo_polygon_buffer": (polygon_buffer, [_V, _D, _D], _V, 1),
    "kql_geo_polygon_holds": (polygon_holds, [_D, _D, _V], _B, 0),
    "kql_geo_polygon_near": (polygon_near, [_D, _D, _V, _D], _B, 0),
    "kql_geo_line_near": (line_near, [_D, _D, _V, _D], _B, 0),
}


def register_geo_shapes(connection: duckdb.DuckDBPyConnection) -> None:
    """The shape functions as Python UDFs (dynamic values travel as JSON text); they may return null."""
    functions = [(n, f, p, r, len(p)) for n, (f, p, r) in UDFS.items()]
    functions += [(n, f, p, r, required) for n, (f, p, r, required) in UDFS_WITH_OPTIONAL.items()]
    for name, function, parameters, result, required in functions:
        connection.create_function(
            name, _guarded(_nullable(function, required)), parameters, result,  # type: ignore[arg-type]
            null_handling="special", side_effects=False,
        )  # fmt: skip
