"""Geospatial cell grids for the emulator: geohash, S2 and H3 (pure math, no DuckDB).

Kusto's semantics, from the reference pages of the geo_*geohash*, geo_*s2cell* and geo_*h3cell*
functions: a point outside longitude [-180, 180] / latitude [-90, 90] or a level outside the
documented range gives no cell (empty string), an invalid cell token gives null. Dynamic results
are GeoJSON (longitude first) or arrays of tokens, returned here as Python values; `register`
(bottom) exposes them to DuckDB as JSON text.

Geohash is the usual base-32 bit interleaving (longitude first). S2 follows the published S2
geometry: cube face, quadratic ST<->UV projection, Hilbert-curve position, hex token with trailing
zeros removed. H3 uses Uber's h3 package. Where Kusto's answer is not documented and could
differ (an upper-case token, a cell at a pole or a cube corner, pentagon distortion in H3),
`CellError` is raised so that the emulator fails instead of guessing.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import h3

from .cell_defaults import GEOHASH_DEFAULT_ACCURACY, H3_DEFAULT_RESOLUTION, S2_DEFAULT_LEVEL

if TYPE_CHECKING:
    import duckdb


class CellError(ValueError):
    """An input whose Kusto answer the emulator does not know."""


def _valid_point(longitude: float, latitude: float) -> bool:
    return -180.0 <= longitude <= 180.0 and -90.0 <= latitude <= 90.0  # NaN fails both


def _point(longitude: float, latitude: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [longitude, latitude]}


def _polygon(ring: list[tuple[float, float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[lon, lat] for lon, lat in ring]]}


# ----------------------------------------------------------------------------- geohash
_GEOHASH_ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"
_GEOHASH_VALUES = {c: i for i, c in enumerate(_GEOHASH_ALPHABET)}
_GEOHASH_MAX = 18


def geohash_encode(longitude: float, latitude: float, accuracy: int = GEOHASH_DEFAULT_ACCURACY) -> str | None:
    if not _valid_point(longitude, latitude) or not 1 <= accuracy <= _GEOHASH_MAX:
        return None
    bounds = [[-180.0, 180.0], [-90.0, 90.0]]  # bits alternate, longitude first
    values = (longitude, latitude)
    characters = []
    bit = 0
    for _ in range(accuracy):
        index = 0
        for _ in range(5):
            low, high = bounds[bit % 2]
            middle = (low + high) / 2
            index <<= 1
            if values[bit % 2] >= middle:
                index |= 1
                bounds[bit % 2][0] = middle
            else:
                bounds[bit % 2][1] = middle
            bit += 1
        characters.append(_GEOHASH_ALPHABET[index])
    return "".join(characters)


def geohash_bounds(geohash: str) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) of a geohash, None when it is not one."""
    if not 1 <= len(geohash) <= _GEOHASH_MAX:
        return None
    if any(c not in _GEOHASH_VALUES for c in geohash):
        if any(c.lower() in _GEOHASH_VALUES for c in geohash if c.isupper()):
            raise CellError("an upper-case geohash")
        return None
    bounds = [[-180.0, 180.0], [-90.0, 90.0]]
    bit = 0
    for character in geohash:
        index = _GEOHASH_VALUES[character]
        for shift in range(4, -1, -1):
            low, high = bounds[bit % 2]
            middle = (low + high) / 2
            bounds[bit % 2][0 if (index >> shift) & 1 else 1] = middle
            bit += 1
    return bounds[0][0], bounds[1][0], bounds[0][1], bounds[1][1]


def geohash_central_point(geohash: str) -> dict[str, Any] | None:
    bounds = geohash_bounds(geohash)
    if bounds is None:
        return None
    west, south, east, north = bounds
    return _point((west + east) / 2, (south + north) / 2)


def geohash_polygon(geohash: str) -> dict[str, Any] | None:
    bounds = geohash_bounds(geohash)
    if bounds is None:
        return None
    west, south, east, north = bounds
    return _polygon([(west, south), (east, south), (east, north), (west, north), (west, south)])


# The eight neighbours in the order of the reference's example (geo-geohash-neighbors-function.md,
# 'sunny'), as (column, row) steps, east and north positive. The pages document no rule for the
# order; this one reproduces the documented output, the set itself is exact.
_GEOHASH_NEIGHBOUR_STEPS = [(-1, -1), (-1, 1), (1, -1), (0, 1), (-1, 0), (1, 1), (1, 0), (0, -1)]


def geohash_neighbors(geohash: str) -> list[str] | None:
    bounds = geohash_bounds(geohash)
    if bounds is None:
        return None
    west, south, east, north = bounds
    if south == -90.0 or north == 90.0 or west == -180.0 or east == 180.0:
        raise CellError("geohash neighbours at a pole or at the antimeridian")
    width, height = east - west, north - south
    centre_lon, centre_lat = (west + east) / 2, (south + north) / 2
    return [
        geohash_encode(centre_lon + dx * width, centre_lat + dy * height, len(geohash)) or ""
        for dx, dy in _GEOHASH_NEIGHBOUR_STEPS
    ]


# ----------------------------------------------------------------------------- S2
S2_MAX_LEVEL = 30
_MAX_SIZE = 1 << S2_MAX_LEVEL  # leaf cells along a face edge
_SWAP, _INVERT = 1, 2
# Hilbert curve tables, indexed by orientation: (i bit, j bit) -> position and back.
_IJ_TO_POS = [[0, 1, 3, 2], [0, 3, 1, 2], [2, 3, 1, 0], [2, 1, 3, 0]]
_POS_TO_IJ = [[0, 1, 3, 2], [0, 2, 3, 1], [3, 2, 0, 1], [3, 1, 0, 2]]
_POS_TO_ORIENTATION = [_SWAP, 0, 0, _SWAP | _INVERT]
_TOKEN = re.compile(r"[0-9a-f]{1,16}")

Vector = tuple[float, float, float]


def latlng_to_xyz(latitude: float, longitude: float) -> Vector:
    phi, theta = math.radians(latitude), math.radians(longitude)
    cos_phi = math.cos(phi)
    return (math.cos(theta) * cos_phi, math.sin(theta) * cos_phi, math.sin(phi))


def xyz_to_lnglat(point: Vector) -> tuple[float, float]:
    x, y, z = point
    return math.degrees(math.atan2(y, x)), math.degrees(math.atan2(z, math.sqrt(x * x + y * y)))


def _normalize(point: Vector) -> Vector:
    norm = math.sqrt(point[0] * point[0] + point[1] * point[1] + point[2] * point[2])
    return (point[0] / norm, point[1] / norm, point[2] / norm)


def xyz_face(point: Vector) -> int:
    ax, ay, az = (abs(c) for c in point)
    axis = (0 if ax > az else 2) if ax > ay else (1 if ay > az else 2)
    return axis + 3 if point[axis] < 0 else axis


def face_xyz_to_uv(face: int, point: Vector) -> tuple[float, float]:
    x, y, z = point
    return [
        lambda: (y / x, z / x),
        lambda: (-x / y, z / y),
        lambda: (-x / z, -y / z),
        lambda: (z / x, y / x),
        lambda: (z / y, -x / y),
        lambda: (-y / z, -x / z),
    ][face]()


def face_uv_to_xyz(face: int, u: float, v: float) -> Vector:
    return [(1.0, u, v), (-u, 1.0, v), (-u, -v, 1.0), (-1.0, -v, -u), (v, -1.0, -u), (v, u, -1.0)][face]


def _uv_to_st(u: float) -> float:
    return 0.5 * math.sqrt(1 + 3 * u) if u >= 0 else 1 - 0.5 * math.sqrt(1 - 3 * u)


def _st_to_uv(s: float) -> float:
    return (1 / 3.0) * (4 * s * s - 1) if s >= 0.5 else (1 / 3.0) * (1 - 4 * (1 - s) * (1 - s))


def _st_to_ij(s: float) -> int:
    scaled = _MAX_SIZE * s - 0.5
    rounded = math.floor(abs(scaled) + 0.5) * (1 if scaled >= 0 else -1)  # C's lround
    return max(0, min(_MAX_SIZE - 1, int(rounded)))


def _lsb_for_level(level: int) -> int:
    return 1 << (2 * (S2_MAX_LEVEL - level))


def s2_level(cell: int) -> int:
    return S2_MAX_LEVEL - ((cell & -cell).bit_length() - 1) // 2


def s2_parent(cell: int, level: int) -> int:
    lsb = _lsb_for_level(level)
    return (cell & -lsb) | lsb


def s2_from_face_ij(face: int, i: int, j: int) -> int:
    """The leaf cell at (i, j) of a face."""
    orientation = face & _SWAP
    position = 0
    for k in range(S2_MAX_LEVEL - 1, -1, -1):
        pos = _IJ_TO_POS[orientation][(((i >> k) & 1) << 1) | ((j >> k) & 1)]
        position |= pos << (2 * k)
        orientation ^= _POS_TO_ORIENTATION[pos]
    return (face << 61) | (position << 1) | 1


def s2_to_face_ij(cell: int) -> tuple[int, int, int]:
    """Face and (i, j) of the cell's lower-left leaf."""
    face = cell >> 61
    orientation = face & _SWAP
    i = j = 0
    for k in range(S2_MAX_LEVEL - 1, -1, -1):
        ij = _POS_TO_IJ[orientation][(cell >> (2 * k + 1)) & 3]
        i |= (ij >> 1) << k
        j |= (ij & 1) << k
        orientation ^= _POS_TO_ORIENTATION[(cell >> (2 * k + 1)) & 3]
    size = 1 << (S2_MAX_LEVEL - s2_level(cell))
    return face, i & -size, j & -size


def s2_from_point(point: Vector, level: int) -> int:
    face = xyz_face(point)
    u, v = face_xyz_to_uv(face, point)
    return s2_parent(s2_from_face_ij(face, _st_to_ij(_uv_to_st(u)), _st_to_ij(_uv_to_st(v))), level)


def s2_token(cell: int) -> str:
    return f"{cell:016x}".rstrip("0") or "X"


def s2_from_token(token: str) -> int | None:
    """The cell id of a token, None when the token is not a valid cell."""
    if not _TOKEN.fullmatch(token):
        if re.fullmatch(r"[0-9a-fA-F]{1,16}", token):
            raise CellError("an upper-case S2 token")
        return None
    cell = int(token.ljust(16, "0"), 16)
    if cell >> 61 > 5 or not cell & -cell & 0x1555555555555555:
        return None
    return cell


def point_to_s2cell(longitude: float, latitude: float, level: int = S2_DEFAULT_LEVEL) -> str | None:
    if not _valid_point(longitude, latitude) or not 0 <= level <= S2_MAX_LEVEL:
        return None
    return s2_token(s2_from_point(latlng_to_xyz(latitude, longitude), level))


def _s2_bound_uv(cell: int) -> tuple[int, tuple[float, float], tuple[float, float]]:
    face, i, j = s2_to_face_ij(cell)
    size = 1 << (S2_MAX_LEVEL - s2_level(cell))
    u = (_st_to_uv(i / _MAX_SIZE), _st_to_uv((i + size) / _MAX_SIZE))
    v = (_st_to_uv(j / _MAX_SIZE), _st_to_uv((j + size) / _MAX_SIZE))
    return face, u, v


def s2cell_central_point(token: str) -> dict[str, Any] | None:
    cell = s2_from_token(token)
    if cell is None:
        return None
    face, i, j = s2_to_face_ij(cell)
    size = 1 << (S2_MAX_LEVEL - s2_level(cell))
    # the centre in units of half a leaf cell, as S2 computes it
    s, t = (2 * i + size) / (2 * _MAX_SIZE), (2 * j + size) / (2 * _MAX_SIZE)
    return _point(*xyz_to_lnglat(face_uv_to_xyz(face, _st_to_uv(s), _st_to_uv(t))))


def s2_vertices(cell: int) -> list[Vector]:
    """The four corners, counter-clockwise from (u low, v low)."""
    face, u, v = _s2_bound_uv(cell)
    corners = [(u[0], v[0]), (u[1], v[0]), (u[1], v[1]), (u[0], v[1])]
    return [_normalize(face_uv_to_xyz(face, cu, cv)) for cu, cv in corners]


def s2cell_polygon(token: str) -> dict[str, Any] | None:
    cell = s2_from_token(token)
    if cell is None:
        return None
    ring = [xyz_to_lnglat(vertex) for vertex in s2_vertices(cell)]
    return _polygon([*ring, ring[0]])


def _s2_from_face_ij_wrap(face: int, i: int, j: int) -> int:
    """The leaf cell at (i, j), which may lie just beyond the face: found on the adjacent face."""
    i, j = max(-1, min(_MAX_SIZE, i)), max(-1, min(_MAX_SIZE, j))
    limit = 1.0 + 2.220446049250313e-16
    u = max(-limit, min(limit, (2 * (i - _MAX_SIZE // 2) + 1) / _MAX_SIZE))
    v = max(-limit, min(limit, (2 * (j - _MAX_SIZE // 2) + 1) / _MAX_SIZE))
    point = face_uv_to_xyz(face, u, v)
    face = xyz_face(point)
    u, v = face_xyz_to_uv(face, point)
    return s2_from_face_ij(face, _st_to_ij(0.5 * (u + 1)), _st_to_ij(0.5 * (v + 1)))


def _s2_neighbour(face: int, i: int, j: int, level: int) -> int:
    if 0 <= i < _MAX_SIZE and 0 <= j < _MAX_SIZE:
        return s2_parent(s2_from_face_ij(face, i, j), level)
    return s2_parent(_s2_from_face_ij_wrap(face, i, j), level)


# The eight neighbours in the order of the reference's example (geo-s2cell-neighbors-function.md,
# '89c259'), as (i, j) steps in cells; like geohash, the order is documented by example only.
_S2_NEIGHBOUR_STEPS = [(1, 1), (-1, -1), (1, -1), (0, -1), (0, 1), (1, 0), (-1, 0), (-1, 1)]


def s2cell_neighbors(token: str) -> list[str] | None:
    cell = s2_from_token(token)
    if cell is None:
        return None
    level = s2_level(cell)
    face, i, j = s2_to_face_ij(cell)
    size = 1 << (S2_MAX_LEVEL - level)
    if level == 0 or (i in (0, _MAX_SIZE - size) and j in (0, _MAX_SIZE - size)):
        raise CellError("S2 neighbours of a cell at a cube corner")
    return [s2_token(_s2_neighbour(face, i + di * size, j + dj * size, level)) for di, dj in _S2_NEIGHBOUR_STEPS]


# ----------------------------------------------------------------------------- H3
H3_MAX_RESOLUTION = 15
_H3_TOKEN = re.compile(r"[0-9a-f]{1,16}")
H3_MAX_RING_DISTANCE = 142
H3_MAX_CHILD_DEPTH = 5


def _h3_cell(token: str) -> str | None:
    if not _H3_TOKEN.fullmatch(token):
        if re.fullmatch(r"[0-9a-fA-F]{1,16}", token) and h3.is_valid_cell(token.lower()):
            raise CellError("an upper-case H3 token")
        return None
    return token if h3.is_valid_cell(token) else None


def point_to_h3cell(longitude: float, latitude: float, resolution: int = H3_DEFAULT_RESOLUTION) -> str | None:
    if not _valid_point(longitude, latitude) or not 0 <= resolution <= H3_MAX_RESOLUTION:
        return None
    return h3.latlng_to_cell(latitude, longitude, resolution)


def h3cell_central_point(token: str) -> dict[str, Any] | None:
    cell = _h3_cell(token)
    if cell is None:
        return None
    latitude, longitude = h3.cell_to_latlng(cell)
    return _point(longitude, latitude)


def h3cell_polygon(token: str) -> dict[str, Any] | None:
    cell = _h3_cell(token)
    if cell is None:
        return None
    ring = [(longitude, latitude) for latitude, longitude in h3.cell_to_boundary(cell)]
    if max(lon for lon, _ in ring) - min(lon for lon, _ in ring) > 180:
        raise CellError("an H3 cell across the antimeridian")
    return _polygon([*ring, ring[0]])


def h3cell_level(token: str) -> int | None:
    cell = _h3_cell(token)
    return None if cell is None else h3.get_resolution(cell)


def h3cell_parent(token: str, resolution: int | None = None) -> str | None:
    cell = _h3_cell(token)
    if cell is None:
        return None
    own = h3.get_resolution(cell)
    resolution = own - 1 if resolution is None else resolution
    if not 0 <= resolution < own:
        return None
    return h3.cell_to_parent(cell, resolution)


def h3cell_children(token: str, resolution: int | None = None) -> list[str] | None:
    cell = _h3_cell(token)
    if cell is None:
        return None
    own = h3.get_resolution(cell)
    resolution = own + 1 if resolution is None else resolution
    if not own < resolution <= H3_MAX_RESOLUTION or resolution - own > H3_MAX_CHILD_DEPTH:
        return None
    return list(h3.cell_to_children(cell, resolution))


def _h3_disk_without_pentagons(cell: str, distance: int) -> list[str]:
    disk = list(h3.grid_disk(cell, distance))
    if any(h3.is_pentagon(c) for c in disk):
        raise CellError("H3 rings that meet a pentagon")
    return disk


def h3cell_neighbors(token: str) -> list[str] | None:
    cell = _h3_cell(token)
    if cell is None:
        return None
    return [c for c in _h3_disk_without_pentagons(cell, 1) if c != cell]


def h3cell_rings(token: str, distance: int) -> list[list[str]] | None:
    cell = _h3_cell(token)
    if cell is None or not 0 <= distance <= H3_MAX_RING_DISTANCE:
        return None
    rings: list[list[str]] = [[] for _ in range(distance + 1)]
    for member in _h3_disk_without_pentagons(cell, distance):  # ordered ring by ring
        rings[h3.grid_distance(cell, member)].append(member)
    return rings


# ----------------------------------------------------------------------------- S2 polygon covering
MAX_COVERING_CELLS = 65536
# S2's tolerance when it tests an edge against a cell (face clipping + rectangle test errors):
# an edge that only touches a cell still counts as meeting it.
_EPSILON = 2.220446049250313e-16
_UV_PADDING = 9 * math.sqrt(0.5) * _EPSILON + 3 * math.sqrt(2) * _EPSILON
# planes that separate the cube faces; an edge is split where it crosses one
_FACE_PLANES: list[Vector] = [(1, -1, 0), (1, 1, 0), (1, 0, -1), (1, 0, 1), (0, 1, -1), (0, 1, 1)]


def _dot(a: Vector, b: Vector) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross(a: Vector, b: Vector) -> Vector:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _triangle_signed_area(a: Vector, b: Vector, c: Vector) -> float:
    """Signed solid angle of the spherical triangle abc (positive counter-clockwise)."""
    return 2 * math.atan2(_dot(a, _cross(b, c)), 1 + _dot(a, b) + _dot(b, c) + _dot(c, a))


class _Ring:
    """A closed loop of geodesic edges; its inside is the smaller of the two regions it bounds.

    W(p), the sum of the signed areas of the triangles (p, a, b) over the edges ab, equals the
    area to the loop's left, less 4π when -p lies to its left: it changes only where p crosses
    the antipodal image of the loop. So W(-q) < 0 exactly when q lies to the left.
    """

    def __init__(self, vertices: list[Vector]):
        self.vertices = vertices
        self.edges = list(zip(vertices, vertices[1:] + vertices[:1], strict=True))
        winding = self._winding(_normalize((0.5, -0.25, 0.125)))
        left_area = winding if winding > 0 else winding + 4 * math.pi
        self.inside_is_left = left_area < 2 * math.pi

    def _winding(self, point: Vector) -> float:
        return sum(_triangle_signed_area(point, a, b) for a, b in self.edges)

    def contains(self, point: Vector) -> bool:
        return (self._winding((-point[0], -point[1], -point[2])) < 0) == self.inside_is_left


class _Shape:
    """A polygon with holes: edges clipped to cube faces (as UV segments) and point containment."""

    def __init__(self, rings: list[_Ring]):
        self.rings = rings
        self.segments: dict[int, list[tuple[float, float, float, float]]] = {f: [] for f in range(6)}
        for ring in rings:
            for a, b in ring.edges:
                self._clip(a, b)

    def _clip(self, a: Vector, b: Vector) -> None:
        angle = math.atan2(math.sqrt(_dot(_cross(a, b), _cross(a, b))), _dot(a, b))
        if angle == 0:
            return
        normal = _cross(_cross(a, b), a)  # direction of travel at a
        c = _normalize(normal)
        cuts = {0.0, angle}
        for plane in _FACE_PLANES:
            t = math.atan2(-_dot(plane, a), _dot(plane, c))
            for candidate in (t, t + math.pi, t - math.pi):
                if 0 < candidate < angle:
                    cuts.add(candidate)
        ordered = sorted(cuts)

        def at(t: float) -> Vector:
            if t == 0.0:
                return a
            if t == angle:
                return b
            return tuple(a[k] * math.cos(t) + c[k] * math.sin(t) for k in range(3))  # type: ignore[return-value]

        for start, end in itertools.pairwise(ordered):
            face = xyz_face(at((start + end) / 2))
            u0, v0 = face_xyz_to_uv(face, at(start))
            u1, v1 = face_xyz_to_uv(face, at(end))
            self.segments[face].append((u0, v0, u1, v1))

    def contains(self, point: Vector) -> bool:
        return self.rings[0].contains(point) and not any(hole.contains(point) for hole in self.rings[1:])


def _segment_meets_rect(segment: tuple[float, float, float, float], u: tuple[float, float],
                        v: tuple[float, float]) -> bool:  # fmt: skip
    u0, v0, u1, v1 = segment
    low_u, high_u = u[0] - _UV_PADDING, u[1] + _UV_PADDING
    low_v, high_v = v[0] - _UV_PADDING, v[1] + _UV_PADDING
    if max(u0, u1) < low_u or min(u0, u1) > high_u or max(v0, v1) < low_v or min(v0, v1) > high_v:
        return False
    # the segment's line must separate (or touch) the rectangle's corners
    du, dv = u1 - u0, v1 - v0
    sides = [du * (cv - v0) - dv * (cu - u0) for cu in (low_u, high_u) for cv in (low_v, high_v)]
    return min(sides) <= 0 <= max(sides)


def _cell_relation(cell: int, shapes: list[_Shape]) -> str:
    """'boundary' when an edge meets the cell, else 'inside' or 'outside' (by the cell centre)."""
    face, u, v = _s2_bound_uv(cell)
    for shape in shapes:
        if any(_segment_meets_rect(segment, u, v) for segment in shape.segments[face]):
            return "boundary"
    centre = _normalize(face_uv_to_xyz(face, (u[0] + u[1]) / 2, (v[0] + v[1]) / 2))
    return "inside" if any(shape.contains(centre) for shape in shapes) else "outside"


def _s2_children(cell: int) -> list[int]:
    lsb = cell & -cell
    step = lsb >> 2
    return [cell - lsb + step * (2 * k + 1) for k in range(4)]


def _cover(shapes: list[_Shape], level: int) -> list[int] | None:
    """All cells of one level that meet the shapes, in id order; None past the token limit."""
    result: list[int] = []
    frontier = [(face << 61) | (1 << 60) for face in range(6)]
    current = 0
    while frontier:
        next_frontier: list[int] = []
        for cell in frontier:
            relation = _cell_relation(cell, shapes)
            if relation == "outside":
                continue
            if relation == "boundary" and current < level:
                next_frontier.extend(_s2_children(cell))
                continue
            # every descendant at `level`: consecutive ids, two of their lowest bits apart
            count = 4 ** (level - current)
            if len(result) + count > MAX_COVERING_CELLS:
                return None
            lsb = _lsb_for_level(level)
            first = cell - (cell & -cell) + lsb
            result.extend(first + 2 * lsb * k for k in range(count))
        if len(result) + len(next_frontier) // 4 > MAX_COVERING_CELLS:  # each has a cell at `level`
            return None
        frontier = next_frontier
        current += 1
    return sorted(result)


def _parse_ring(coordinates: Any) -> _Ring | None:
    if not isinstance(coordinates, list) or len(coordinates) < 4:
        return None
    points: list[tuple[float, float]] = []
    for position in coordinates:
        if not (isinstance(position, list) and len(position) == 2):
            return None
        if not all(isinstance(c, int | float) and not isinstance(c, bool) for c in position):
            return None
        longitude, latitude = float(position[0]), float(position[1])
        if not _valid_point(longitude, latitude):
            return None
        points.append((longitude, latitude))
    if points[0] != points[-1]:
        return None
    distinct: list[tuple[float, float]] = []
    for point in points[:-1]:
        if not distinct or distinct[-1] != point:
            distinct.append(point)
    if len(distinct) < 3:
        return None
    return _Ring([latlng_to_xyz(lat, lon) for lon, lat in distinct])


def _parse_polygon(rings: Any) -> _Shape | None:
    if not isinstance(rings, list) or not rings:
        return None
    parsed = [_parse_ring(ring) for ring in rings]
    if any(ring is None for ring in parsed):
        return None
    return _Shape(parsed)  # type: ignore[arg-type]


def polygon_to_s2cells(polygon: Any, level: int = S2_DEFAULT_LEVEL) -> list[str] | None:
    if not isinstance(polygon, dict) or not 0 <= level <= S2_MAX_LEVEL:
        return None
    kind, coordinates = polygon.get("type"), polygon.get("coordinates")
    if kind == "Polygon":
        shapes = [_parse_polygon(coordinates)]
    elif kind == "MultiPolygon" and isinstance(coordinates, list) and coordinates:
        shapes = [_parse_polygon(member) for member in coordinates]
    else:
        return None
    if any(shape is None for shape in shapes):
        return None
    cells = _cover(shapes, level)  # type: ignore[arg-type]
    return None if cells is None else [s2_token(cell) for cell in cells]


# ----------------------------------------------------------------------------- DuckDB
def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _guarded(function: Callable[..., Any]) -> Callable[..., Any]:
    """A UDF body: null in, null out; CellError becomes a runtime error the user can read."""

    @functools.wraps(function)  # DuckDB reads the parameter count from the signature
    def run(*arguments: Any) -> Any:
        if any(argument is None for argument in arguments):
            return None
        try:
            return function(*arguments)
        except CellError as exc:
            raise ValueError(f"the emulator does not support {exc}") from None

    return run


def _from_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


UDFS: dict[str, tuple[Callable[..., Any], list[str], str]] = {
    "kql_geohash": (lambda lon, lat, acc: geohash_encode(lon, lat, acc), ["DOUBLE", "DOUBLE", "BIGINT"], "VARCHAR"),
    "kql_geohash_center": (lambda g: _json(geohash_central_point(g)), ["VARCHAR"], "JSON"),
    "kql_geohash_polygon": (lambda g: _json(geohash_polygon(g)), ["VARCHAR"], "JSON"),
    "kql_geohash_neighbors": (lambda g: _json(geohash_neighbors(g)), ["VARCHAR"], "JSON"),
    "kql_s2cell": (lambda lon, lat, lvl: point_to_s2cell(lon, lat, lvl), ["DOUBLE", "DOUBLE", "BIGINT"], "VARCHAR"),
    "kql_s2cell_center": (lambda t: _json(s2cell_central_point(t)), ["VARCHAR"], "JSON"),
    "kql_s2cell_polygon": (lambda t: _json(s2cell_polygon(t)), ["VARCHAR"], "JSON"),
    "kql_s2cell_neighbors": (lambda t: _json(s2cell_neighbors(t)), ["VARCHAR"], "JSON"),
    "kql_polygon_s2cells": (
        lambda p, lvl: _json(polygon_to_s2cells(_from_json(p), lvl)), ["VARCHAR", "BIGINT"], "JSON"),
    "kql_h3cell": (lambda lon, lat, res: point_to_h3cell(lon, lat, res), ["DOUBLE", "DOUBLE", "BIGINT"], "VARCHAR"),
    "kql_h3cell_center": (lambda t: _json(h3cell_central_point(t)), ["VARCHAR"], "JSON"),
    "kql_h3cell_polygon": (lambda t: _json(h3cell_polygon(t)), ["VARCHAR"], "JSON"),
    "kql_h3cell_level": (lambda t: h3cell_level(t), ["VARCHAR"], "INTEGER"),
    "kql_h3cell_parent": (lambda t, r: h3cell_parent(t, r), ["VARCHAR", "BIGINT"], "VARCHAR"),
    "kql_h3cell_parent1": (lambda t: h3cell_parent(t), ["VARCHAR"], "VARCHAR"),
    "kql_h3cell_children": (lambda t, r: _json(h3cell_children(t, r)), ["VARCHAR", "BIGINT"], "JSON"),
    "kql_h3cell_children1": (lambda t: _json(h3cell_children(t)), ["VARCHAR"], "JSON"),
    "kql_h3cell_neighbors": (lambda t: _json(h3cell_neighbors(t)), ["VARCHAR"], "JSON"),
    "kql_h3cell_rings": (lambda t, d: _json(h3cell_rings(t, d)), ["VARCHAR", "BIGINT"], "JSON"),
}  # fmt: skip


def register_geo_cells(connection: duckdb.DuckDBPyConnection) -> None:
    """The cell functions as Python UDFs ('special' null handling: they may return null)."""
    for name, (function, parameters, result) in UDFS.items():
        connection.create_function(name, _guarded(function), parameters, result, null_handling="special")
