"""Geohash, S2 and H3 cell functions of the emulator: values from the KQL reference pages and by hand."""

from __future__ import annotations

import pytest

from conftest import rows_of
from dac.emulator import EmulatorError
from dac.emulator.geo import cells

run = rows_of


# ----------------------------------------------------------------------------- geohash
def test_geohash_encode_documented_and_by_hand():
    assert cells.geohash_encode(139.806115, 35.554128, 12) == "xn76m27ty9g4"
    assert cells.geohash_encode(-80.195829, 25.802215, 8) == "dhwfz15h"
    assert cells.geohash_encode(-122.303404, 47.570482) == "c23n8"  # default accuracy 5
    # (0, 0): longitude and latitude bits 1, 1 (upper halves), then 0, 0, 0 -> 0b11000 = 24 = 's'
    assert cells.geohash_encode(0.0, 0.0, 1) == "s"
    assert cells.geohash_encode(200.0, 1.0, 8) is None
    assert cells.geohash_encode(1.0, 1.0, 19) is None


def test_geohash_centre_polygon_neighbours():
    assert cells.geohash_central_point("sunny") == {"type": "Point", "coordinates": [42.47314453125, 23.70849609375]}
    assert cells.geohash_polygon("dr5ru") == {
        "type": "Polygon",
        "coordinates": [
            [
                [-74.00390625, 40.7373046875],
                [-73.9599609375, 40.7373046875],
                [-73.9599609375, 40.78125],
                [-74.00390625, 40.78125],
                [-74.00390625, 40.7373046875],
            ]
        ],
    }
    assert cells.geohash_neighbors("sunny") == ["sunnt", "sunpj", "sunnx", "sunpn", "sunnv", "sunpp", "sunnz", "sunnw"]
    assert cells.geohash_central_point("a") is None  # 'a' is not in the geohash alphabet
    assert cells.geohash_polygon("") is None


# ----------------------------------------------------------------------------- S2
def test_s2_face_cells_by_hand():
    # level 0 cells are the cube faces: id = face << 61 | 1 << 60, token without trailing zeros
    assert cells.point_to_s2cell(0.0, 0.0, 0) == "1"  # +x
    assert cells.point_to_s2cell(90.0, 0.0, 0) == "3"  # +y
    assert cells.point_to_s2cell(0.0, 90.0, 0) == "5"  # +z
    assert cells.point_to_s2cell(180.0, 0.0, 0) == "7"  # -x
    assert cells.s2_from_token("a") is None  # lowest set bit at an odd position


def test_s2_documented_values():
    assert cells.point_to_s2cell(-80.195829, 25.802215, 8) == "88d9b"
    assert [cells.point_to_s2cell(lon, 53.0, 8) for lon in (10.1234, 10.3579, 10.6842)] == ["47b1d", "47b1d", "47ae3"]
    assert cells.point_to_s2cell(300.0, 1.0, 8) is None
    assert cells.point_to_s2cell(1.0, 1.0, 35) is None
    longitude, latitude = cells.s2cell_central_point("1234567")["coordinates"]
    assert longitude == pytest.approx(9.86830731850408, abs=1e-13)
    assert latitude == pytest.approx(27.468392925827604, abs=1e-13)
    ring = cells.s2cell_polygon("89c259")["coordinates"][0]
    expected = [
        (-74.030012249838478, 40.8012684339439),
        (-74.030012249838478, 40.7222262918358),
        (-73.935982114337421, 40.708880489804564),
        (-73.935982114337421, 40.787917134506841),
        (-74.030012249838478, 40.8012684339439),
    ]
    assert [pytest.approx(list(point), abs=1e-12) for point in expected] == ring
    assert cells.s2cell_neighbors("89c259") == [
        "89c25d",
        "89c2f9",
        "89c251",
        "89c257",
        "89c25f",
        "89c25b",
        "89c2f7",
        "89c2f5",
    ]
    assert cells.s2cell_polygon("a") is None


def test_polygon_to_s2cells_documented_count_and_limit():
    triangle = {"type": "Polygon", "coordinates": [[[0, 0], [0, 50], [100, 50], [0, 0]]]}
    assert len(cells.polygon_to_s2cells(triangle, 5)) == 286
    assert cells.polygon_to_s2cells(triangle, 30) is None  # more than 65536 cells
    assert cells.polygon_to_s2cells({"type": "Polygon", "coordinates": [[[0, 0], [0, 50], [0, 0]]]}, 5) is None


def test_polygon_to_s2cells_covers_inner_points():
    square = {
        "type": "Polygon",
        "coordinates": [[[-74.0, 40.7], [-73.9, 40.7], [-73.9, 40.8], [-74.0, 40.8], [-74.0, 40.7]]],
    }
    covering = cells.polygon_to_s2cells(square, 12)
    assert covering == sorted(covering, key=cells.s2_from_token)
    assert cells.point_to_s2cell(-73.95, 40.75, 12) in covering
    assert cells.point_to_s2cell(-73.5, 40.75, 12) not in covering


# ----------------------------------------------------------------------------- H3
def test_h3_documented_values():
    assert cells.point_to_h3cell(-74.04450446039874, 40.689250859314974, 6) == "862a1072fffffff"
    assert cells.point_to_h3cell(1.0, 1.0, 16) is None
    assert cells.h3cell_level("862a1072fffffff") == 6
    assert cells.h3cell_parent("862a1072fffffff") == "852a1073fffffff"
    assert cells.h3cell_parent("862a1072fffffff", 1) == "812a3ffffffffff"
    assert cells.h3cell_parent("862a1072fffffff", 15) is None
    assert cells.h3cell_children("862a1072fffffff") == [f"872a1072{c}ffffff" for c in "89abcde"]
    assert len(cells.h3cell_children("862a1072fffffff", 9)) == 343
    assert cells.h3cell_children(cells.point_to_h3cell(1.0, 1.0, 9), 15) is None  # more than 5 levels down
    assert cells.h3cell_neighbors("862a1072fffffff") == [
        "862a10727ffffff",
        "862a10707ffffff",
        "862a1070fffffff",
        "862a10777ffffff",
        "862a100dfffffff",
        "862a100d7ffffff",
    ]
    rings = cells.h3cell_rings("861f8894fffffff", 2)
    assert rings[0] == ["861f8894fffffff"]
    assert rings[1] == [
        "861f88947ffffff",
        "861f8895fffffff",
        "861f88867ffffff",
        "861f8d497ffffff",
        "861f8d4b7ffffff",
        "861f8896fffffff",
    ]
    assert len(rings[2]) == 12
    assert cells.h3cell_rings("861f8894fffffff", 150) is None
    longitude, latitude = cells.h3cell_central_point("862a1072fffffff")["coordinates"]
    assert (longitude, latitude) == pytest.approx((-74.016008479792447, 40.7041679083504), abs=1e-12)
    assert cells.h3cell_central_point("1") is None
    assert cells.h3cell_level("abc") is None


def test_upper_case_token_is_refused():
    with pytest.raises(cells.CellError):
        cells.h3cell_level("862A1072FFFFFFF")
    with pytest.raises(cells.CellError):
        cells.s2cell_polygon("89C259")


# ----------------------------------------------------------------------------- through the emulator
def test_emulator_strings_and_nulls(emulator):
    rows = run(
        emulator,
        "print a = geo_point_to_geohash(1, 1, int(null)), b = geo_point_to_s2cell(-80.195829, "
        "25.802215, 8), c = geo_point_to_h3cell(300, 1, 8), d = geo_h3cell_level('862a1072fffffff')",
    )
    assert rows == [["", "88d9b", "", 6]]
    rows = run(emulator, "print isnull(geo_s2cell_neighbors('a')), isempty(geo_h3cell_parent('862a1072fffffff', 100))")
    assert rows == [[True, True]]


def test_emulator_dynamic_results(emulator):
    rows = run(emulator, 'print geo_h3cell_to_central_point("862a1072fffffff").coordinates[0]')
    assert rows[0][0] == pytest.approx(-74.0160084797924, abs=1e-12)
    rows = run(
        emulator,
        'print array_length(geo_polygon_to_s2cells(dynamic({"type":"Polygon","coordinates":'
        "[[[0,0],[0,50],[100,50],[0,0]]]}), 5))",
    )
    assert rows == [[286]]
    rows = run(emulator, "print geo_geohash_to_central_point('sunny')")
    assert rows == [[{"type": "Point", "coordinates": [42.47314453125, 23.70849609375]}]]


def test_emulator_refuses_other_argument_types(emulator):
    with pytest.raises(EmulatorError) as error:
        emulator.run("print geo_s2cell_to_polygon(dynamic('89c259'))")
    assert error.value.code == "EMU001"
    with pytest.raises(EmulatorError):
        emulator.run("print geo_point_to_geohash('1', 1)")
