"""Points, lines and polygons on the sphere, the way S2 represents them: the primitives the shape
functions (shapes.py) and S2's own operations (s2ops.py) share.

It holds the vector helpers (unit vectors from longitude and latitude and back, robust cross
products, exact orientation), GeoJSON parsing and validation of points, lines and polygons (rings
normalized to bound the smaller region; parsed shapes cached per text), edges, crossings and
S2's edge distance, loop areas and centroids, the compact JSON Kusto prints, and GeoRefusal.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterator
from fractions import Fraction
from functools import lru_cache
from typing import Any

Vector = tuple[float, float, float]
Line = list[Vector]
Loop = list[Vector]  # without the closing vertex, counterclockwise around the smaller region
Polygon = list[Loop]  # shell first, then holes


def json_text(value: Any) -> str:
    """Dynamic values as Kusto writes them (tostring() of a dynamic): compact JSON."""
    return json.dumps(value, separators=(",", ":"))


def _number_json(value: float) -> int | float:
    return int(value) if value == int(value) and abs(value) < 1e15 else value


def coordinates_json(vertices: list[list[float]]) -> list[list[int | float]]:
    return [[_number_json(v) for v in vertex] for vertex in vertices]


class GeoRefusal(Exception):
    """A case whose exact Kusto result the emulator cannot compute."""


# ----------------------------------------------------------------- vectors
def cross(a: Vector, b: Vector) -> Vector:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def dot(a: Vector, b: Vector) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def add(a: Vector, b: Vector) -> Vector:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def sub(a: Vector, b: Vector) -> Vector:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def scale(a: Vector, k: float) -> Vector:
    return (a[0] * k, a[1] * k, a[2] * k)


def _norm(a: Vector) -> float:
    return math.sqrt(dot(a, a))


def normalize(a: Vector) -> Vector:
    length = _norm(a)
    return a if length == 0 else scale(a, 1.0 / length)


def angle(a: Vector, b: Vector) -> float:
    """S2Point::Angle: accurate for small and large angles alike."""
    return math.atan2(_norm(cross(a, b)), dot(a, b))


def robust_cross(a: Vector, b: Vector) -> Vector:
    """S2::RobustCrossProd for distinct points: 2 (a x b), computed with less cancellation."""
    return cross(add(b, a), sub(b, a))


def chord_angle(length2: float) -> float:
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


def orientation(a: Vector, b: Vector, c: Vector) -> int:
    """The sign of det(a, b, c): +1 when a, b, c turn counterclockwise; exact near zero."""
    determinant = dot(cross(a, b), c)
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


def shape_type(shape: Any) -> str | None:
    if not isinstance(shape, dict):
        return None
    kind = shape.get("type")
    if not isinstance(kind, str):
        return None
    known = ("Point", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
    if kind not in known and kind.lower() in (k.lower() for k in known):
        raise GeoRefusal(f"the GeoJSON type spelled '{kind}'")
    return kind


def edge_ok(a: Vector, b: Vector) -> bool:
    """Edges are shorter than 180 degrees (antipodal vertices have no shortest edge)."""
    return angle(a, b) < math.pi


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
    kind = shape_type(shape)
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
            if not edge_ok(to_vector(*first), to_vector(*second)):
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
    kind = shape_type(shape)
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


# ----------------------------------------------------------------- areas and centroids
def _fan_integral(loop: Loop, triangle: Callable[[Vector, Vector, Vector], Any], total: Any) -> Any:
    """S2's GetSurfaceIntegral for loops with edges well below 180 degrees: a fan from loop[0]."""
    origin = loop[0]
    for index in range(1, len(loop) - 1):
        if angle(loop[index + 1], origin) > math.pi - 1e-5:
            raise GeoRefusal("a polygon whose vertices are nearly antipodal")
        total = triangle(total, origin, loop[index], loop[index + 1])
    return total


def _girard_area(a: Vector, b: Vector, c: Vector) -> float:
    ab, bc, ac = robust_cross(a, b), robust_cross(b, c), robust_cross(a, c)
    return max(0.0, angle(ab, ac) - angle(ab, bc) + angle(bc, ac))


def _triangle_area(a: Vector, b: Vector, c: Vector) -> float:
    """S2::Area: l'Huilier's theorem, or Girard's formula for skinny triangles."""
    side_a, side_b, side_c = angle(b, c), angle(c, a), angle(a, b)
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
    return _triangle_area(a, b, c) * orientation(a, b, c)


def _true_centroid(a: Vector, b: Vector, c: Vector) -> Vector:
    """S2::TrueCentroid: the triangle's centroid times its area."""
    ratios = []
    for side in (angle(b, c), angle(c, a), angle(a, b)):
        ratios.append(1.0 if side == 0 else side / math.sin(side))
    ra, rb, rc = ratios
    x = (a[0], b[0] - a[0], c[0] - a[0])
    y = (a[1], b[1] - a[1], c[1] - a[1])
    z = (a[2], b[2] - a[2], c[2] - a[2])
    r = (ra, rb - ra, rc - ra)
    return scale((dot(cross(y, z), r), dot(cross(z, x), r), dot(cross(x, y), r)), 0.5)


def loop_area(loop: Loop) -> float:
    """Steradians enclosed to the left of the loop (S2Loop::GetArea for a small CCW loop)."""
    return _fan_integral(loop, lambda total, a, b, c: total + _signed_area(a, b, c), 0.0)


def loop_centroid(loop: Loop) -> Vector:
    return _fan_integral(loop, lambda total, a, b, c: add(total, _true_centroid(a, b, c)), (0.0, 0.0, 0.0))


# ----------------------------------------------------------------- edges and polygons
def _normalized_loop(ring: list[tuple[float, float]]) -> Loop:
    """The ring as a loop around the smaller of the two regions it bounds (S2Loop::Normalize)."""
    loop = [to_vector(*c) for c in ring]
    for index in range(len(loop)):
        if not edge_ok(loop[index], loop[(index + 1) % len(loop)]):
            raise _Invalid
    area = loop_area(loop)
    if abs(abs(area) - 2 * math.pi) < 1e-6:
        raise GeoRefusal("a polygon ring that bounds half of the sphere")
    return loop if area > 0 else loop[::-1]


class _Invalid(Exception):
    """Raised inside parsing helpers; the caller answers null."""


def loop_edges(loop: Loop) -> Iterator[tuple[Vector, Vector]]:
    for index in range(len(loop)):
        yield loop[index], loop[(index + 1) % len(loop)]


def edge_distance2(x: Vector, a: Vector, b: Vector) -> float:
    """S2's squared chord distance from x to edge AB (interior or vertex case)."""
    xa2, xb2 = dot(sub(x, a), sub(x, a)), dot(sub(x, b), sub(x, b))
    ab = sub(a, b)
    if max(xa2, xb2) < min(xa2, xb2) + dot(ab, ab):
        c = robust_cross(a, b)
        c2 = dot(c, c)
        x_dot_c = dot(x, c)
        cx = cross(c, x)
        if not (dot(sub(a, x), cx) >= 0 or dot(sub(b, x), cx) <= 0):
            qr = 1 - math.sqrt(dot(cx, cx) / c2)
            return x_dot_c * x_dot_c / c2 + qr * qr
    return min(xa2, xb2)


def crossing(a: Vector, b: Vector, c: Vector, d: Vector) -> int:
    """1 if edges AB and CD cross at a point interior to both, -1 if not, 0 if they touch or are degenerate."""
    if not boxes_meet(a, b, c, d):
        return -1
    if len({a, b, c, d}) < 4:
        return 0
    acb = -orientation(a, b, c)
    bda = orientation(a, b, d)
    if acb == 0 or bda == 0:
        return 0 if (acb == 0 and bda == 0) or _touches(a, b, c, d) else -1
    if bda != acb:
        return -1
    cbd = -orientation(c, d, b)
    dac = orientation(c, d, a)
    if cbd == 0 or dac == 0:
        return 0 if _touches(a, b, c, d) else -1
    return 1 if cbd == acb and dac == acb else -1


def _touches(a: Vector, b: Vector, c: Vector, d: Vector) -> bool:
    """Whether a vertex of one edge lies on (or extremely near) the other edge."""
    return min(edge_distance2(c, a, b), edge_distance2(d, a, b), edge_distance2(a, c, d),
               edge_distance2(b, c, d)) < 1e-28  # fmt: skip


def boxes_meet(a: Vector, b: Vector, c: Vector, d: Vector) -> bool:
    margin_ab = 1 - math.cos(0.5 * angle(a, b)) + 1e-15  # an arc bulges beyond its chord by this much
    margin_cd = 1 - math.cos(0.5 * angle(c, d)) + 1e-15
    for axis in range(3):
        low_ab, high_ab = min(a[axis], b[axis]) - margin_ab, max(a[axis], b[axis]) + margin_ab
        low_cd, high_cd = min(c[axis], d[axis]) - margin_cd, max(c[axis], d[axis]) + margin_cd
        if high_ab < low_cd or high_cd < low_ab:
            return False
    return True


def loops_cross(first: Loop, second: Loop, same: bool) -> bool:
    """Whether edges of two loops (or of one loop with itself) cross; touching is refused."""
    first_edges, second_edges = list(loop_edges(first)), list(loop_edges(second))
    for i, (a, b) in enumerate(first_edges):
        for j, (c, d) in enumerate(second_edges):
            if same and (j <= i or j == i + 1 or (i == 0 and j == len(first_edges) - 1)):
                continue
            result = crossing(a, b, c, d)
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
                if loops_cross(loop, other, same=other is loop):
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
def lines_of(text: str) -> list[Line] | None:
    """Parsed once per distinct text: a row-by-row UDF often sees the same literal shape (never mutated)."""
    return parse_lines(parse_json(text))


@lru_cache(maxsize=256)
def polygons_of(text: str) -> list[Polygon] | None:
    return parse_polygons(parse_json(text))
