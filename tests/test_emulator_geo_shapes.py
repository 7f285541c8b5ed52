"""Geospatial shape functions of the emulator: values from the KQL reference pages and by hand."""

from __future__ import annotations

import json
import math

import pytest

from conftest import rows_of
from dac.emulator import Emulator, EmulatorError
from dac.emulator.geo import shapes

CENTRAL_PARK = (
    '{"type":"Polygon","coordinates":[[[-73.9495,40.7969],[-73.95807266235352,40.80068603561921],'
    "[-73.98201942443848,40.76825672305777],[-73.97317886352539,40.76455136505513],[-73.9495,40.7969]]]}"
)
ROAD = (
    '{"type":"LineString","coordinates":[[-115.115385,36.229195],[-115.136995,36.200366],[-115.140252,36.192470],'
    "[-115.143558,36.188523],[-115.144076,36.181954],[-115.154662,36.174483],[-115.166431,36.176388],"
    "[-115.183289,36.175007],[-115.192612,36.176736],[-115.202485,36.173439],[-115.225355,36.174365]]}"
)


run = rows_of


def refused(emulator: Emulator, query: str) -> str:
    """The refusal's message; a refusal found while the query runs (in a UDF) arrives as EMU002."""
    with pytest.raises(EmulatorError) as raised:
        emulator.run(query)
    assert raised.value.code in ("EMU001", "EMU002")
    assert "the emulator does not support" in raised.value.message
    return raised.value.message


def digits(value: float) -> str:
    """The 15 significant digits the reference pages print."""
    return f"{value:.15g}"


# ----------------------------------------------------------------------------- points
def test_distance_between_points_is_the_great_circle_times_the_earth_radius():
    assert digits(shapes.distance_2points(-122.407628, 47.578557, -118.275287, 34.019056)) == "1546754.35197381"
    # a quarter of the equator, by hand
    assert shapes.distance_2points(0, 0, 90, 0) == pytest.approx(math.pi / 2 * 6371010.0, rel=1e-15)
    assert shapes.distance_2points(300, 1, 1, 1) is None


def test_angle_azimuth_and_circle(emulator):
    assert digits(shapes.angle_at(0, 10, 0, 5, 3, -10)) == "2.94493843406882"
    assert digits(shapes.azimuth(5, 10, 10, -40)) == "3.05459939796449"
    assert shapes.azimuth(0, 0, 0, 10) == 0.0  # due north
    assert shapes.azimuth(0, 0, 10, 0) == pytest.approx(math.pi / 2)  # due east along the equator
    assert shapes.angle_at(0, 10, 0, 10, 3, -10) is None  # p1 == p2
    assert run(emulator, "print geo_point_in_circle(-122.143564, 47.535677, -122.100896, 47.527351, 3500)") == [[True]]
    assert run(emulator, "print geo_point_in_circle(-122.137575, 47.630683, -122.100896, 47.527351, 3500)") == [[False]]
    assert run(emulator, "print geo_point_in_circle(1, 1, 1, 1, -1)") == [[None]]


def test_spheroid_distance_is_refused(emulator):
    with pytest.raises(EmulatorError) as raised:
        emulator.run("print geo_distance_2points(1, 1, 2, 2, true)")
    assert raised.value.code == "EMU001"  # refused while compiling


# ----------------------------------------------------------------------------- lines
def test_line_length_and_interpolation():
    line = (
        '{"type":"LineString","coordinates":[[-73.95807266235352,40.800426144169315],'
        "[-73.94966125488281,40.79691751000055],[-73.97317886352539,40.764486356930334]]}"
    )
    assert digits(shapes.line_length(line)) == "4922.48016992081"
    assert shapes.line_length('{"type":"LineString","coordinates":[[1, 1]]}') is None
    point = json.loads(
        shapes.line_interpolate_point(
            '{"type":"LineString","coordinates":[[-73.95796, 40.80042], [-73.97317, 40.764486]]}', 0.25
        )
    )
    assert [digits(v) for v in point["coordinates"]] == ["-73.9617640432183", "40.7914366872572"]
    # the middle of an arc along the equator, by hand
    middle = json.loads(shapes.line_interpolate_point('{"type":"LineString","coordinates":[[0,0],[10,0]]}', 0.5))
    assert middle["coordinates"] == pytest.approx([5, 0], abs=1e-12)


def test_distance_and_closest_point_on_a_line(emulator):
    assert digits(shapes.distance_point_to_line(-115.199625, 36.210419, ROAD)) == "3797.88887253334"
    closest = json.loads(shapes.closest_point_on_line(-115.199625, 36.210419, ROAD))
    assert [digits(v) for v in closest["coordinates"]] == ["-115.192612", "36.176736"]
    assert shapes.distance_point_to_line(1, 1, '{"type":"LineString"}') is None
    # the distance to an edge's interior is refused: Kusto's exact formula is not pinned down
    assert "the emulator does not support" in refused(
        emulator, 'print geo_distance_point_to_line(0.5, 1, dynamic({"type":"LineString","coordinates":[[0,0],[1,0]]}))'
    )


def test_densify_cuts_planar_edges_in_halves_until_within_tolerance():
    densified = json.loads(shapes.line_densify('{"type":"LineString","coordinates":[[50, 50], [51, 51]]}', 10, False))
    assert densified["coordinates"] == [[50 + i / 8, 50 + i / 8] for i in range(9)]
    polygon = shapes.polygon_densify('{"type":"Polygon","coordinates":[[[10,10],[11,10],[11,11],[10,11],[10,10]]]}', 10,
                                     False)  # fmt: skip
    assert json.loads(polygon)["coordinates"] == [
        [[10, 10], [10.25, 10], [10.5, 10], [10.75, 10], [11, 10], [11, 11], [10.75, 11], [10.5, 11], [10.25, 11],
         [10, 11], [10, 10]]
    ]  # fmt: skip
    # a meridian is a geodesic: nothing to add
    assert json.loads(shapes.line_densify('{"type":"LineString","coordinates":[[1,1],[1,5]]}', 10, False))[
        "coordinates"
    ] == [[1, 1], [1, 5]]
    assert shapes.line_densify('{"type":"LineString","coordinates":[[1,1],[2,2]]}', 0, False) is None


def test_lines_intersect():
    first = '{"type":"LineString","coordinates":[[-73.978929,40.785155],[-73.980903,40.782621]]}'
    second = '{"type":"LineString","coordinates":[[-73.985195,40.788275],[-73.974552,40.779761]]}'
    assert shapes.intersects_2lines(first, second) is True
    far = '{"type":"LineString","coordinates":[[3,3],[4,4]]}'
    near = '{"type":"LineString","coordinates":[[1,1],[2,2]]}'
    assert shapes.intersects_2lines(near, far) is False
    assert json.loads(shapes.intersection_2lines(near, far)) == {"type": "GeometryCollection", "geometries": []}
    assert shapes.intersects_2lines(near, '{"type":"LineString","coordinates":[[3,3]]}') is None


# ----------------------------------------------------------------------------- polygons
def test_polygon_measures_match_the_reference():
    assert digits(shapes.polygon_area(CENTRAL_PARK)) == "3475207.28346606"
    assert digits(shapes.polygon_perimeter(CENTRAL_PARK)) == "9930.30149604938"
    centroid = json.loads(shapes.polygon_centroid(CENTRAL_PARK))["coordinates"]
    assert centroid == [-73.965735689907618, 40.782550538057812]
    invalid = '{"type": "Polygon","coordinates": [[[0,0],[10,10],[10,10],[0,0]]]}'
    assert shapes.polygon_area(invalid) is None


def test_ring_orientation_does_not_matter():
    """The smaller region is taken: a clockwise ring has the same area as a counterclockwise one."""
    ring = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
    counterclockwise = json.dumps({"type": "Polygon", "coordinates": [ring]})
    clockwise = json.dumps({"type": "Polygon", "coordinates": [ring[::-1]]})
    assert shapes.polygon_area(clockwise) == pytest.approx(shapes.polygon_area(counterclockwise), rel=1e-12)
    # a one-degree square at the equator: R^2 * (sin 1deg - sin 0) * 1deg in radians, nearly
    expected = 6371010.0**2 * math.sin(math.radians(1)) * math.radians(1)
    assert shapes.polygon_area(counterclockwise) == pytest.approx(expected, rel=1e-3)
    assert shapes.point_in_polygon(0.5, 0.5, clockwise) is True
    assert shapes.point_in_polygon(1.5, 0.5, clockwise) is False


def test_point_in_polygon_and_distance(emulator):
    assert shapes.point_in_polygon(-73.9658, 40.7825, CENTRAL_PARK) is True
    assert shapes.point_in_polygon(-73.9839, 40.7705, CENTRAL_PARK) is False
    assert shapes.point_in_polygon(200, 1, CENTRAL_PARK) is None
    assert digits(shapes.distance_point_to_polygon(-73.9839, 40.7705, CENTRAL_PARK)) == "259.940756070596"
    assert shapes.distance_point_to_polygon(-73.9658, 40.7825, CENTRAL_PARK) == 0.0
    holed = json.dumps({"type": "Polygon", "coordinates": [
        [[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]], [[1, 1], [1, 3], [3, 3], [3, 1], [1, 1]]]})  # fmt: skip
    assert shapes.point_in_polygon(2, 2, holed) is False
    assert shapes.point_in_polygon(0.5, 2, holed) is True
    # a point on the boundary: S2's semi-open rule is not modelled
    assert "boundary" in refused(emulator, f"print geo_point_in_polygon(-73.9495, 40.7969, dynamic({CENTRAL_PARK}))")


def test_union_of_overlapping_polygons_is_refused(emulator):
    overlapping = json.dumps({"type": "MultiPolygon", "coordinates": [
        [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]], [[[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]]]]})  # fmt: skip
    assert "overlapping" in refused(emulator, f"print geo_polygon_area(dynamic({overlapping}))")
    disjoint = json.dumps({"type": "MultiPolygon", "coordinates": [
        [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]], [[[5, 5], [6, 5], [6, 6], [5, 6], [5, 5]]]]})  # fmt: skip
    square = json.dumps({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]})
    other = json.dumps({"type": "Polygon", "coordinates": [[[5, 5], [6, 5], [6, 6], [5, 6], [5, 5]]]})
    assert shapes.polygon_area(disjoint) == pytest.approx(shapes.polygon_area(square) + shapes.polygon_area(other))


def test_simplify_and_unions_answer_null_or_refuse(emulator):
    assert run(emulator, 'print isnull(geo_line_simplify(dynamic({"type":"LineString","coordinates":[[1.1, 1.1],'
                         '[1.2,1.2]]}), 100000))') == [[True]]  # fmt: skip
    assert "simplification" in refused(
        emulator, 'print geo_line_simplify(dynamic({"type":"LineString","coordinates":[[1,1],[2,2]]}), 10)'
    )
    assert run(emulator, 'print isnull(geo_union_polygons_array(dynamic([{"type":"Polygon","coordinates":'
                         '[[[-73.94622,40.79249]]]}])))') == [[True]]  # fmt: skip


# ----------------------------------------------------------------------------- WKT, plugins
def test_from_wkt():
    assert json.loads(shapes.from_wkt("POINT (1 2)")) == {"type": "Point", "coordinates": [1, 2]}
    assert json.loads(shapes.from_wkt("MULTIPOINT ((1 1), (2.5 2))")) == {
        "type": "MultiPoint", "coordinates": [[1, 1], [2.5, 2]]}  # fmt: skip
    assert shapes.from_wkt("LINESTRING") is None
    assert shapes.from_wkt("POINT (1 2") is None


def test_polygon_and_line_lookup_plugins(emulator):
    query = f"""
let polygons = datatable(name:string, polygon:dynamic) ["park", dynamic({CENTRAL_PARK})];
datatable(place:string, lng:real, lat:real) ["inside", -73.9658, 40.7825, "outside", -73.9839, 40.7705]
| evaluate geo_polygon_lookup(polygons, polygon, lng, lat, return_unmatched = true)"""
    assert run(emulator, query) == [["inside", -73.9658, 40.7825, "park"], ["outside", -73.9839, 40.7705, ""]]
    query = f"""
let roads = datatable(road:string, line:dynamic) ["road", dynamic({ROAD})];
datatable(place:string, lng:real, lat:real) ["airport", -115.199625, 36.210419]
| evaluate geo_line_lookup(roads, line, lng, lat, 4000)"""
    assert run(emulator, query) == [["airport", -115.199625, 36.210419, "road"]]
    assert run(emulator, query.replace("4000", "3000")) == []
