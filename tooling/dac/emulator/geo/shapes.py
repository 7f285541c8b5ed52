"""Geospatial shape functions (lines, polygons, distances) computed the way Kusto does: on a sphere.

Kusto's geospatial functions use S2 geometry: a coordinate becomes a unit vector, edges are
great-circle arcs, and lengths are angles times the earth radius 6,371,010 m. The formulas here
follow S2's (angle = atan2(|a x b|, a.b), area as a fan of triangles from the loop's first vertex
with l'Huilier's or Girard's formula, true centroids, chord distances to vertices), which is what
makes the results agree with the documented ones to the last printed digit.

Where Kusto's exact output is out of reach (unions and intersections of shapes, buffers,
simplification, points exactly on a boundary), a function raises GeoRefusal; the UDF turns it
into a runtime error the engine reports as EMU001, never a guessed value. Invalid input gives
null, as the reference pages document.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Iterator
from fractions import Fraction
from functools import lru_cache, wraps
from typing import Any

import duckdb

EARTH_RADIUS_METERS = 6371010.0
Vector = tuple[float, float, float]
Line = list[Vector]
Loop = list[Vector]  # without the closing vertex, counterclockwise around the smaller region
Polygon = list[Loop]  # shell first, then holes


def _json_text(value: Any) -> str:
    """Dynamic values as Kusto writes them (tostring() of a dynamic): compact JSON."""
    return json.dumps(value, separators=(",", ":"))


class GeoRefusal(Exception):
    """A case whose exact Kusto result the emulator cannot compute."""


# ----------------------------------------------------------------- vectors
def _cross(a: Vector, b: Vector) -> Vector:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _dot(a: Vector, b: Vector) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _add(a: Vector, b: Vector) -> Vector:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _sub(a: Vector, b: Vector) -> Vector:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _scale(a: Vector, k: float) -> Vector:
    return (a[0] * k, a[1] * k, a[2] * k)


def _norm(a: Vector) -> float:
    return math.sqrt(_dot(a, a))


def _normalize(a: Vector) -> Vector:
    length = _norm(a)
    return a if length == 0 else _scale(a, 1.0 / length)


def _angle(a: Vector, b: Vector) -> float:
    """S2Point::Angle: accurate for small and large angles alike."""
    return math.atan2(_norm(_cross(a, b)), _dot(a, b))


def _robust_cross(a: Vector, b: Vector) -> Vector:
    """S2::RobustCrossProd for distinct points: 2 (a x b), computed with less cancellation."""
    return _cross(_add(b, a), _sub(b, a))


def _chord_angle(length2: float) -> float:
    """S1ChordAngle::ToAngle: the angle of a chord whose squared length is length2."""
    return 2 * math.asin(0.5 * math.sqrt(min(4.0, length2)))


def to_vector(longitude: float, latitude: float) -> Vector:
    """S2LatLng::ToPoint."""
    phi, theta = math.radians(latitude), math.radians(longitude)
    cos_phi = math.cos(phi)
    return (math.cos(theta) * cos_phi, math.sin(theta) * cos_phi, math.sin(phi))


def to_lnglat(point: Vector) -> tuple[float, float]:
    """S2LatLng(point), in degrees: (longitude, latitude)."""
    latitude = math.atan2(point[2], math.sqrt(point[0] * point[0] + point[1] * point[1]))
    return math.degrees(math.atan2(point[1], point[0])), math.degrees(latitude)


def _orientation(a: Vector, b: Vector, c: Vector) -> int:
    """The sign of det(a, b, c): +1 when a, b, c turn counterclockwise; exact near zero."""
    determinant = _dot(_cross(a, b), c)
    if abs(determinant) > 1e-14:  # well above the rounding error of unit vectors (S2: 1.8e-15)
        return 1 if determinant > 0 else -1
    fa, fb, fc = ([Fraction(x) for x in v] for v in (a, b, c))
    exact = (
        (fa[1] * fb[2] - fa[2] * fb[1]) * fc[0]
        + (fa[2] * fb[0] - fa[0] * fb[2]) * fc[1]
        + (fa[0] * fb[1] - fa[1] * fb[0]) * fc[2]
    )
    return (exact > 0) - (exact < 0)


# ----------------------------------------------------------------- parsing and validation
def _real(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def valid_point(longitude: float | None, latitude: float | None) -> bool:
    if longitude is None or latitude is None:
        return False
    if not (math.isfinite(longitude) and math.isfinite(latitude)):
        return False
    return -180 <= longitude <= 180 and -90 <= latitude <= 90


def _coordinate(item: Any) -> tuple[float, float] | None:
    if not isinstance(item, list) or len(item) < 2:
        return None
    if len(item) > 2:
        raise GeoRefusal("GeoJSON coordinates with more than two values")
    longitude, latitude = _real(item[0]), _real(item[1])
    if not valid_point(longitude, latitude):
        return None
    return longitude, latitude  # type: ignore[return-value]


def _shape_type(shape: Any) -> str | None:
    if not isinstance(shape, dict):
        return None
    kind = shape.get("type")
    if not isinstance(kind, str):
        return None
    known = ("Point", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
    if kind not in known and kind.lower() in (k.lower() for k in known):
        raise GeoRefusal(f"the GeoJSON type spelled '{kind}'")
    return kind


def _edge_ok(a: Vector, b: Vector) -> bool:
    """Edges are shorter than 180 degrees (antipodal vertices have no shortest edge)."""
    return _angle(a, b) < math.pi


def _vertices(coordinates: Any, minimum: int) -> list[tuple[float, float]] | None:
    """A list of at least `minimum` valid coordinates, as (longitude, latitude); None otherwise."""
    if not isinstance(coordinates, list) or len(coordinates) < minimum:
        return None
    vertices = []
    for item in coordinates:
        coordinate = _coordinate(item)
        if coordinate is None:
            return None
        vertices.append(coordinate)
    return vertices


def parse_line_coordinates(shape: Any) -> list[list[tuple[float, float]]] | None:
    """LineString or MultiLineString -> its lines as (longitude, latitude) lists; None if invalid."""
    kind = _shape_type(shape)
    if kind == "LineString":
        line = _vertices(shape.get("coordinates"), 2)
        lines = None if line is None else [line]
    elif kind == "MultiLineString":
        coordinates = shape.get("coordinates")
        if not isinstance(coordinates, list):
            return None
        if not coordinates:
            raise GeoRefusal("an empty MultiLineString")
        parsed = [_vertices(c, 2) for c in coordinates]
        lines = None if any(p is None for p in parsed) else parsed  # type: ignore[assignment]
    else:
        return None
    if lines is None:
        return None
    for line in lines:
        for first, second in itertools.pairwise(line):
            if first == second:
                raise GeoRefusal("a line with a repeated vertex")
            if not _edge_ok(to_vector(*first), to_vector(*second)):
                return None
    return lines


def parse_lines(shape: Any) -> list[Line] | None:
    lines = parse_line_coordinates(shape)
    return None if lines is None else [[to_vector(*c) for c in line] for line in lines]


def _ring(coordinates: Any) -> list[tuple[float, float]] | None:
    """A closed ring -> its distinct vertices (closing vertex dropped); None if invalid."""
    vertices = _vertices(coordinates, 4)
    if vertices is None or vertices[0] != vertices[-1]:
        return None
    distinct = vertices[:-1]
    if len(set(distinct)) != len(distinct):
        return None
    return distinct


def parse_polygon_coordinates(shape: Any) -> list[list[list[tuple[float, float]]]] | None:
    """Polygon or MultiPolygon -> polygons -> rings of (longitude, latitude); None if invalid."""
    kind = _shape_type(shape)
    coordinates = shape.get("coordinates") if isinstance(shape, dict) else None
    if kind == "Polygon":
        candidates = [coordinates]
    elif kind == "MultiPolygon":
        if not isinstance(coordinates, list):
            return None
        if not coordinates:
            raise GeoRefusal("an empty MultiPolygon")
        candidates = coordinates
    else:
        return None
    polygons = []
    for candidate in candidates:
        if not isinstance(candidate, list) or not candidate:
            return None
        rings = [_ring(r) for r in candidate]
        if any(r is None for r in rings):
            return None
        polygons.append(rings)
    return polygons  # type: ignore[return-value]


def _fan_integral(loop: Loop, triangle: Callable[[Vector, Vector, Vector], Any], total: Any) -> Any:
    """S2's GetSurfaceIntegral for loops with edges well below 180 degrees: a fan from loop[0]."""
    origin = loop[0]
    for index in range(1, len(loop) - 1):
        if _angle(loop[index + 1], origin) > math.pi - 1e-5:
            raise GeoRefusal("a polygon whose vertices are nearly antipodal")
        total = triangle(total, origin, loop[index], loop[index + 1])
    return total


def _girard_area(a: Vector, b: Vector, c: Vector) -> float:
    ab, bc, ac = _robust_cross(a, b), _robust_cross(b, c), _robust_cross(a, c)
    return max(0.0, _angle(ab, ac) - _angle(ab, bc) + _angle(bc, ac))


def _triangle_area(a: Vector, b: Vector, c: Vector) -> float:
    """S2::Area: l'Huilier's theorem, or Girard's formula for skinny triangles."""
    side_a, side_b, side_c = _angle(b, c), _angle(c, a), _angle(a, b)
    s = 0.5 * (side_a + side_b + side_c)
    if s >= 3e-4:
        s2 = s * s
        dmin = s - max(side_a, side_b, side_c)
        if dmin < 1e-2 * s * s2 * s2:
            area = _girard_area(a, b, c)
            if dmin < s * (0.1 * area):
                return area
    product = math.tan(0.5 * s) * math.tan(0.5 * (s - side_a)) * math.tan(0.5 * (s - side_b))
    return 4 * math.atan(math.sqrt(max(0.0, product * math.tan(0.5 * (s - side_c)))))


def _signed_area(a: Vector, b: Vector, c: Vector) -> float:
    return _triangle_area(a, b, c) * _orientation(a, b, c)


def _true_centroid(a: Vector, b: Vector, c: Vector) -> Vector:
    """S2::TrueCentroid: the triangle's centroid times its area."""
    ratios = []
    for side in (_angle(b, c), _angle(c, a), _angle(a, b)):
        ratios.append(1.0 if side == 0 else side / math.sin(side))
    ra, rb, rc = ratios
    x = (a[0], b[0] - a[0], c[0] - a[0])
    y = (a[1], b[1] - a[1], c[1] - a[1])
    z = (a[2], b[2] - a[2], c[2] - a[2])
    r = (ra, rb - ra, rc - ra)
    return _scale((_dot(_cross(y, z), r), _dot(_cross(z, x), r), _dot(_cross(x, y), r)), 0.5)


def loop_area(loop: Loop) -> float:
    """Steradians enclosed to the left of the loop (S2Loop::GetArea for a small CCW loop)."""
    return _fan_integral(loop, lambda total, a, b, c: total + _signed_area(a, b, c), 0.0)


def loop_centroid(loop: Loop) -> Vector:
    return _fan_integral(loop, lambda total, a, b, c: _add(total, _true_centroid(a, b, c)), (0.0, 0.0, 0.0))


def _normalized_loop(ring: list[tuple[float, float]]) -> Loop:
    """The ring as a loop around the smaller of the two regions it bounds (S2Loop::Normalize)."""
    loop = [to_vector(*c) for c in ring]
    for index in range(len(loop)):
        if not _edge_ok(loop[index], loop[(index + 1) % len(loop)]):
            raise _Invalid
    area = loop_area(loop)
    if abs(abs(area) - 2 * math.pi) < 1e-6:
        raise GeoRefusal("a polygon ring that bounds half of the sphere")
    return loop if area > 0 else loop[::-1]


class _Invalid(Exception):
    """Raised inside parsing helpers; the caller answers null."""


def _edges(loop: Loop) -> Iterator[tuple[Vector, Vector]]:
    for index in range(len(loop)):
        yield loop[index], loop[(index + 1) % len(loop)]


def _crossing(a: Vector, b: Vector, c: Vector, d: Vector) -> int:
    """1 if edges AB and CD cross at a point interior to both, -1 if not, 0 if they touch or are degenerate."""
    if not _boxes_meet(a, b, c, d):
        return -1
    if len({a, b, c, d}) < 4:
        return 0
    acb = -_orientation(a, b, c)
    bda = _orientation(a, b, d)
    if acb == 0 or bda == 0:
        return 0 if (acb == 0 and bda == 0) or _touches(a, b, c, d) else -1
    if bda != acb:
        return -1
    cbd = -_orientation(c, d, b)
    dac = _orientation(c, d, a)
    if cbd == 0 or dac == 0:
        return 0 if _touches(a, b, c, d) else -1
    return 1 if cbd == acb and dac == acb else -1


def _touches(a: Vector, b: Vector, c: Vector, d: Vector) -> bool:
    """Whether a vertex of one edge lies on (or extremely near) the other edge."""
    return min(_edge_distance2(c, a, b), _edge_distance2(d, a, b), _edge_distance2(a, c, d),
               _edge_distance2(b, c, d)) < 1e-28  # fmt: skip


def _boxes_meet(a: Vector, b: Vector, c: Vector, d: Vector) -> bool:
    margin_ab = 1 - math.cos(0.5 * _angle(a, b)) + 1e-15  # an arc bulges beyond its chord by this much
    margin_cd = 1 - math.cos(0.5 * _angle(c, d)) + 1e-15
    for axis in range(3):
        low_ab, high_ab = min(a[axis], b[axis]) - margin_ab, max(a[axis], b[axis]) + margin_ab
        low_cd, high_cd = min(c[axis], d[axis]) - margin_cd, max(c[axis], d[axis]) + margin_cd
        if high_ab < low_cd or high_cd < low_ab:
            return False
    return True


def _loops_cross(first: Loop, second: Loop, same: bool) -> bool:
    """Whether edges of two loops (or of one loop with itself) cross; touching is refused."""
    first_edges, second_edges = list(_edges(first)), list(_edges(second))
    for i, (a, b) in enumerate(first_edges):
        for j, (c, d) in enumerate(second_edges):
            if same and (j <= i or j == i + 1 or (i == 0 and j == len(first_edges) - 1)):
                continue
            result = _crossing(a, b, c, d)
            if result == 1:
                return True
            if result == 0:
                raise GeoRefusal("polygon rings that touch")
    return False


def parse_polygons(shape: Any) -> list[Polygon] | None:
    """Polygon or MultiPolygon -> polygons of normalized loops; None if invalid."""
    coordinates = parse_polygon_coordinates(shape)
    if coordinates is None:
        return None
    try:
        polygons = [[_normalized_loop(ring) for ring in rings] for rings in coordinates]
    except _Invalid:
        return None
    for polygon in polygons:
        for index, loop in enumerate(polygon):
            for other in polygon[index:]:
                if _loops_cross(loop, other, same=other is loop):
                    return None
    return polygons


def parse_json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


@lru_cache(maxsize=256)
def _lines_of(text: str) -> list[Line] | None:
    """Parsed once per distinct text: a row-by-row UDF often sees the same literal shape (never mutated)."""
    return parse_lines(parse_json(text))


@lru_cache(maxsize=256)
def _polygons_of(text: str) -> list[Polygon] | None:
    return parse_polygons(parse_json(text))


# ----------------------------------------------------------------- points, distances, containment
def _point_json(point: Vector) -> str:
    longitude, latitude = to_lnglat(point)
    return _json_text({"type": "Point", "coordinates": [longitude, latitude]})


def distance_2points(lng1: float, lat1: float, lng2: float, lat2: float) -> float | None:
    if not (valid_point(lng1, lat1) and valid_point(lng2, lat2)):
        return None
    return _angle(to_vector(lng1, lat1), to_vector(lng2, lat2)) * EARTH_RADIUS_METERS


def point_in_circle(lng: float, lat: float, center_lng: float, center_lat: float, radius: float) -> bool | None:
    if not (valid_point(lng, lat) and valid_point(center_lng, center_lat)):
        return None
    if not math.isfinite(radius) or radius <= 0:
        return None
    # S2Cap::Contains: the chord to the centre against the chord of the radius
    chord = _sub(to_vector(center_lng, center_lat), to_vector(lng, lat))
    angle = min(math.pi, radius / EARTH_RADIUS_METERS)
    limit = 4 * math.sin(0.5 * angle) ** 2
    if abs(_dot(chord, chord) - limit) < 1e-15:
        raise GeoRefusal("a point on the circle's edge")
    return _dot(chord, chord) <= limit


def _azimuth(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    delta = math.radians(lng2) - math.radians(lng1)
    y = math.sin(delta) * math.cos(phi2)
    x = math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(delta)
    return math.atan2(y, x) % (2 * math.pi)


def _distinct_not_antipodal(first: tuple[float, float], second: tuple[float, float]) -> bool:
    a, b = to_vector(*first), to_vector(*second)
    return a != b and _edge_ok(a, b)


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


def _edge_distance2(x: Vector, a: Vector, b: Vector) -> float:
    """S2's squared chord distance from x to edge AB (interior or vertex case)."""
    xa2, xb2 = _dot(_sub(x, a), _sub(x, a)), _dot(_sub(x, b), _sub(x, b))
    ab = _sub(a, b)
    if max(xa2, xb2) < min(xa2, xb2) + _dot(ab, ab):
        c = _robust_cross(a, b)
        c2 = _dot(c, c)
        x_dot_c = _dot(x, c)
        cx = _cross(c, x)
        if not (_dot(_sub(a, x), cx) >= 0 or _dot(_sub(b, x), cx) <= 0):
            qr = 1 - math.sqrt(_dot(cx, cx) / c2)
            return x_dot_c * x_dot_c / c2 + qr * qr
    return min(xa2, xb2)


def _project(x: Vector, a: Vector, b: Vector) -> tuple[Vector, bool]:
    """S2::Project: the closest point to x on edge AB, and whether it is interior to the edge."""
    c = _robust_cross(a, b)
    p = _sub(x, _scale(c, _dot(x, c) / _dot(c, c)))
    if _dot(_cross(c, a), p) > 0 and _dot(_cross(b, c), p) > 0:  # S2::SimpleCCW(c, a, p), (p, b, c)
        return _normalize(p), True
    return (a if _dot(_sub(x, a), _sub(x, a)) <= _dot(_sub(x, b), _sub(x, b)) else b), False


def _closest_edge(x: Vector, edges: list[tuple[Vector, Vector]]) -> tuple[float, Vector, Vector]:
    best: tuple[float, Vector, Vector] | None = None
    for a, b in edges:
        distance2 = _edge_distance2(x, a, b)
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
    lines = _lines_of(shape_text)
    if lines is None or not valid_point(lng, lat):
        return None
    line = _single_line(lines, "the distance to the union")
    x = to_vector(lng, lat)
    distance2, a, b = _closest_edge(x, _line_edges([line]))
    if _project(x, a, b)[1]:
        # Documented results pin down the distance to a vertex only (a chord); the interior case is
        # computed by formulas that differ from each other in the last digits.
        raise GeoRefusal("the distance from a point to the inside of a line's edge")
    return _chord_angle(distance2) * EARTH_RADIUS_METERS


def closest_point_on_line(lng: float, lat: float, shape_text: str) -> str | None:
    lines = _lines_of(shape_text)
    if lines is None or not valid_point(lng, lat):
        return None
    line = _single_line(lines, "the closest point on the union")
    x = to_vector(lng, lat)
    _, a, b = _closest_edge(x, _line_edges([line]))
    return _point_json(_project(x, a, b)[0])


def _winding_inside(x: Vector, loop: Loop) -> bool:
    """Whether x lies in the loop's (smaller, left-hand) region: the turn of the loop seen from x."""
    total = 0.0
    for a, b in _edges(loop):
        along = _dot(a, b) - _dot(x, a) * _dot(x, b)
        total += math.atan2(_dot(x, _cross(a, b)), along)
    return total > math.pi


def _near_boundary(x: Vector, polygon: Polygon) -> bool:
    return any(_edge_distance2(x, a, b) < 1e-24 for loop in polygon for a, b in _edges(loop))


def _polygon_contains(x: Vector, polygon: Polygon) -> bool:
    if _near_boundary(x, polygon):
        raise GeoRefusal("a point on a polygon's boundary")
    if not _winding_inside(x, polygon[0]):
        return False
    return not any(_winding_inside(x, hole) for hole in polygon[1:])


def point_in_polygon(lng: float, lat: float, shape_text: str) -> bool | None:
    polygons = _polygons_of(shape_text)
    if polygons is None or not valid_point(lng, lat):
        return None
    x = to_vector(lng, lat)
    return any(_polygon_contains(x, polygon) for polygon in polygons)


def distance_point_to_polygon(lng: float, lat: float, shape_text: str) -> float | None:
    polygons = _polygons_of(shape_text)
    if polygons is None or not valid_point(lng, lat):
        return None
    x = to_vector(lng, lat)
    if any(_polygon_contains(x, polygon) for polygon in polygons):
        return 0.0
    if len(polygons) > 1:
        raise GeoRefusal("the distance to the union of a MultiPolygon's polygons")
    edges = [edge for loop in polygons[0] for edge in _edges(loop)]
    _, a, b = _closest_edge(x, edges)
    closest, interior = _project(x, a, b)
    if not interior:
        raise GeoRefusal("the distance from a point to a polygon's vertex")
    return _angle(x, closest) * EARTH_RADIUS_METERS


# ----------------------------------------------------------------- measures
def _overlapping_lines(lines: list[Line]) -> bool:
    """Whether two edges lie on one great circle and share more than a point (their union is shorter)."""
    edges = _line_edges(lines)
    for i, (a, b) in enumerate(edges):
        for c, d in edges[i + 1 :]:
            if not _boxes_meet(a, b, c, d):
                continue
            if _orientation(a, b, c) != 0 or _orientation(a, b, d) != 0:
                continue
            if {a, b} == {c, d} or any(
                v not in (p, q) and _edge_distance2(v, p, q) < 1e-28 for v, (p, q) in
                ((c, (a, b)), (d, (a, b)), (a, (c, d)), (b, (c, d)))
            ):  # fmt: skip
                return True
    return False


def line_length(shape_text: str) -> float | None:
    lines = _lines_of(shape_text)
    if lines is None:
        return None
    if len(lines) > 1 and _overlapping_lines(lines):
        raise GeoRefusal("the length of overlapping lines' union")
    total = 0.0
    for line in lines:
        for index in range(1, len(line)):
            total += _angle(line[index - 1], line[index])
    return total * EARTH_RADIUS_METERS


def _disjoint_polygons(polygons: list[Polygon]) -> None:
    """Refuses polygons whose union is not simply their collection (they overlap or touch)."""
    for index, first in enumerate(polygons):
        for second in polygons[index + 1 :]:
            if any(_loops_cross(a, b, same=False) for a in first for b in second):
                raise GeoRefusal("the union of overlapping polygons")
            shared = {v for loop in first for v in loop} & {v for loop in second for v in loop}
            if shared:
                raise GeoRefusal("the union of polygons that share a vertex")
            if _polygon_contains(second[0][0], first) or _polygon_contains(first[0][0], second):
                raise GeoRefusal("the union of nested polygons")


def polygon_perimeter(shape_text: str) -> float | None:
    polygons = _polygons_of(shape_text)
    if polygons is None:
        return None
    _disjoint_polygons(polygons)
    total = 0.0
    for polygon in polygons:
        for loop in polygon:
            for a, b in _edges(loop):
                total += _angle(a, b)
    return total * EARTH_RADIUS_METERS


def _without_holes(polygons: list[Polygon], what: str) -> None:
    if any(len(polygon) > 1 for polygon in polygons):
        raise GeoRefusal(f"the {what} of a polygon with holes")


def polygon_area(shape_text: str) -> float | None:
    polygons = _polygons_of(shape_text)
    if polygons is None:
        return None
    _disjoint_polygons(polygons)
    _without_holes(polygons, "area")
    total = 0.0
    for polygon in polygons:
        total += loop_area(polygon[0])
    return total * EARTH_RADIUS_METERS * EARTH_RADIUS_METERS


def polygon_centroid(shape_text: str) -> str | None:
    polygons = _polygons_of(shape_text)
    if polygons is None:
        return None
    _disjoint_polygons(polygons)
    _without_holes(polygons, "centroid")
    total: Vector = (0.0, 0.0, 0.0)
    for polygon in polygons:
        total = _add(total, loop_centroid(polygon[0]))
    return _point_json(_normalize(total))


def line_interpolate_point(shape_text: str, fraction: float) -> str | None:
    """S2Polyline::Interpolate: the point at this fraction of the line's length."""
    lines = _lines_of(shape_text)
    if lines is None or len(lines) != 1 or not math.isfinite(fraction) or not 0 <= fraction <= 1:
        return None
    line = lines[0]
    if fraction <= 0:
        return _point_json(line[0])
    lengths = [_angle(line[i - 1], line[i]) for i in range(1, len(line))]
    total = 0.0
    for length in lengths:
        total += length
    target = fraction * total
    for index, length in enumerate(lengths, start=1):
        if target < length:
            a, b = line[index - 1], line[index]
            direction = _normalize(_cross(_robust_cross(a, b), a))
            point = _add(_scale(a, math.cos(target)), _scale(direction, math.sin(target)))
            return _point_json(_normalize(point))
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
    deviation = _chord_angle(_edge_distance2(to_vector(*middle), to_vector(*first), to_vector(*second)))
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


def _number_json(value: float) -> int | float:
    return int(value) if value == int(value) and abs(value) < 1e15 else value


def _coordinates_json(vertices: list[list[float]]) -> list[list[int | float]]:
    return [[_number_json(v) for v in vertex] for vertex in vertices]


def line_densify(shape_text: str, tolerance: float | None, preserve_crossing: bool | None) -> str | None:
    if preserve_crossing:
        raise GeoRefusal("geo_line_densify with preserve_crossing")
    lines = parse_line_coordinates(parse_json(shape_text))
    tolerance = _tolerance(tolerance, 0.1, 10000)
    if lines is None or tolerance is None:
        return None
    densified = [_coordinates_json(_densified(line, tolerance)) for line in lines]
    if parse_json(shape_text)["type"] == "LineString":
        return _json_text({"type": "LineString", "coordinates": densified[0]})
    return _json_text({"type": "MultiLineString", "coordinates": densified})


def polygon_densify(shape_text: str, tolerance: float | None, preserve_crossing: bool | None) -> str | None:
    if preserve_crossing:
        raise GeoRefusal("geo_polygon_densify with preserve_crossing")
    shape = parse_json(shape_text)
    tolerance = _tolerance(tolerance, 0.1, 10000)
    if tolerance is None or parse_polygons(shape) is None:
        return None
    polygons = parse_polygon_coordinates(shape)
    assert polygons is not None
    densified = [[_coordinates_json(_densified(ring + ring[:1], tolerance)) for ring in rings] for rings in polygons]
    if shape["type"] == "Polygon":
        return _json_text({"type": "Polygon", "coordinates": densified[0]})
    return _json_text({"type": "MultiPolygon", "coordinates": densified})


# ----------------------------------------------------------------- simplify, unions, buffers: nulls only
def _all_within(points: list[Vector], meters: float) -> bool:
    """Whether every two points are closer than meters: simplifying then leaves no shape."""
    limit = meters / EARTH_RADIUS_METERS
    return all(_angle(a, b) < limit * (1 - 1e-9) for i, a in enumerate(points) for b in points[i + 1 :])


def _simplify_tolerance(value: float | None) -> float | None:
    """Negative tolerances are invalid; the pages disagree on the upper limit, so it is not applied."""
    return None if value is None or not math.isfinite(value) or value < 0 else value


def line_simplify(shape_text: str, tolerance: float | None) -> str | None:
    lines = _lines_of(shape_text)
    tolerance = _simplify_tolerance(tolerance)
    if lines is None or tolerance is None:
        return None
    if _all_within([v for line in lines for v in line], tolerance):
        return None  # no two vertices may be closer than the tolerance: nothing is left
    raise GeoRefusal("geo_line_simplify (S2's simplification)")


def polygon_simplify(shape_text: str, tolerance: float | None) -> str | None:
    polygons = _polygons_of(shape_text)
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
    raise GeoRefusal("geo_union_polygons_array (S2's union of polygons)")


def _buffer_arguments_valid(radius: float | None, tolerance: float | None) -> bool:
    if radius is None or not math.isfinite(radius) or radius <= 0:
        return False
    if tolerance is not None and not (math.isfinite(tolerance) and tolerance >= radius * 1e-6):
        raise GeoRefusal("a buffer tolerance below 0.0001% of the radius")
    return True


def line_buffer(shape_text: str, radius: float | None, tolerance: float | None) -> str | None:
    if _lines_of(shape_text) is None or not _buffer_arguments_valid(radius, tolerance):
        return None
    raise GeoRefusal("geo_line_buffer (S2's buffering)")


def polygon_buffer(shape_text: str, radius: float | None, tolerance: float | None) -> str | None:
    if _polygons_of(shape_text) is None or not _buffer_arguments_valid(radius, tolerance):
        return None
    raise GeoRefusal("geo_polygon_buffer (S2's buffering)")


# ----------------------------------------------------------------- intersections
def _lines_meet(first: list[Line], second: list[Line]) -> bool:
    first_vertices = {v for line in first for v in line}
    if any(v in first_vertices for line in second for v in line):
        return True
    for a, b in _line_edges(first):
        for c, d in _line_edges(second):
            result = _crossing(a, b, c, d)
            if result == 1:
                return True
            if result == 0:
                raise GeoRefusal("lines that touch without crossing")
    return False


def intersects_2lines(first_text: str, second_text: str) -> bool | None:
    first, second = _lines_of(first_text), _lines_of(second_text)
    if first is None or second is None:
        return None
    return _lines_meet(first, second)


def _polygons_meet(first: list[Polygon], second: list[Polygon]) -> bool:
    first_vertices = {v for polygon in first for loop in polygon for v in loop}
    if any(v in first_vertices for polygon in second for loop in polygon for v in loop):
        return True  # these polygons contain their vertices
    for p in first:
        for q in second:
            if any(_loops_cross(a, b, same=False) for a in p for b in q):
                return True
    vertices_first = [v for polygon in first for loop in polygon for v in loop]
    vertices_second = [v for polygon in second for loop in polygon for v in loop]
    return any(_polygon_contains(v, q) for v in vertices_first for q in second) or any(
        _polygon_contains(v, p) for v in vertices_second for p in first
    )


def intersects_2polygons(first_text: str, second_text: str) -> bool | None:
    first, second = _polygons_of(first_text), _polygons_of(second_text)
    if first is None or second is None:
        return None
    return _polygons_meet(first, second)


def _line_meets_polygons(lines: list[Line], polygons: list[Polygon]) -> bool:
    polygon_vertices = {v for polygon in polygons for loop in polygon for v in loop}
    if any(v in polygon_vertices for line in lines for v in line):
        raise GeoRefusal("a line through a polygon's vertex")
    polygon_edges = [edge for polygon in polygons for loop in polygon for edge in _edges(loop)]
    for a, b in _line_edges(lines):
        for c, d in polygon_edges:
            result = _crossing(a, b, c, d)
            if result == 1:
                return True
            if result == 0:
                raise GeoRefusal("a line that touches a polygon's boundary")
    return any(_polygon_contains(v, polygon) for line in lines for v in line for polygon in polygons)


def intersects_line_with_polygon(line_text: str, polygon_text: str) -> bool | None:
    lines, polygons = _lines_of(line_text), _polygons_of(polygon_text)
    if lines is None or polygons is None:
        return None
    return _line_meets_polygons(lines, polygons)


_EMPTY_COLLECTION = _json_text({"type": "GeometryCollection", "geometries": []})


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
    return _empty_unless_meeting(meets, "geo_intersection_2polygons of polygons that meet")


def intersection_line_with_polygon(line_text: str, polygon_text: str) -> str | None:
    meets = intersects_line_with_polygon(line_text, polygon_text)
    return _empty_unless_meeting(meets, "geo_intersection_line_with_polygon of shapes that meet")


# ----------------------------------------------------------------- lookup plugins' predicates
def _lookup_point(lng: float | None, lat: float | None) -> Vector:
    if not valid_point(lng, lat):
        raise GeoRefusal("a geo lookup of a missing or invalid coordinate")
    return to_vector(lng, lat)  # type: ignore[arg-type]


def _within_radius(x: Vector, edges: list[tuple[Vector, Vector]], radius: float | None) -> bool:
    if radius is None or not math.isfinite(radius) or radius < 0:
        raise GeoRefusal("a geo lookup radius that is missing or negative")
    distance = _chord_angle(_closest_edge(x, edges)[0]) * EARTH_RADIUS_METERS
    if abs(distance - radius) <= 1e-9 * max(radius, 1.0):
        raise GeoRefusal("a geo lookup location at the radius's edge")
    return distance <= radius


def polygon_holds(lng: float | None, lat: float | None, shape_text: str | None) -> bool:
    polygons = _polygons_of(shape_text) if shape_text is not None else None
    if polygons is None:
        raise GeoRefusal("geo_polygon_lookup with an invalid polygon")
    x = _lookup_point(lng, lat)
    return any(_polygon_contains(x, polygon) for polygon in polygons)


def polygon_near(lng: float | None, lat: float | None, shape_text: str | None, radius: float | None) -> bool:
    if polygon_holds(lng, lat, shape_text):
        return True
    polygons = _polygons_of(shape_text)  # type: ignore[arg-type]
    edges = [edge for polygon in polygons or [] for loop in polygon for edge in _edges(loop)]
    return _within_radius(_lookup_point(lng, lat), edges, radius)


def line_near(lng: float | None, lat: float | None, shape_text: str | None, radius: float | None) -> bool:
    lines = _lines_of(shape_text) if shape_text is not None else None
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
    return _json_text(shape)


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
