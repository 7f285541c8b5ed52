"""Geo functions computed with S2's own operations (emulator/geo/s2ops.py): the reference pages' examples.

Expected values are the pages' printed results, compared at 14 significant digits (the pages print 15,
and the last one can differ between floating-point libraries), vertex order and ring start included.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import rows_of
from dac.emulator import Emulator, EmulatorError

PARK = '{"type":"Polygon","coordinates":[[[-73.9495,40.7969],[-73.95807,40.80068],[-73.98201,40.76825],[-73.97317,40.76455],[-73.9495,40.7969]]]}'  # noqa: E501
LAKE = '{"type":"Polygon","coordinates":[[[-73.94622,40.79249],[-73.96888,40.79282],[-73.9577,40.7789],[-73.94622,40.79249]]]}'  # noqa: E501
SOUTH = '{"type":"Polygon","coordinates":[[[-73.97335,40.77274],[-73.9936,40.76630],[-73.97171,40.75655],[-73.97335,40.77274]]]}'  # noqa: E501


def rounded(value: Any) -> Any:
    """Reals at 14 significant digits, through nested lists and dicts."""
    if isinstance(value, float):
        return float(f"{value:.14g}")
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def shape_of(emulator: Emulator, query: str) -> Any:
    value = rows_of(emulator, query)[0][0]
    return rounded(json.loads(value) if isinstance(value, str) else value)


def refusal(emulator: Emulator, query: str) -> str:
    with pytest.raises(EmulatorError) as raised:
        emulator.run(query)
    assert raised.value.code in ("EMU001", "EMU002")
    return raised.value.message


def polygon(*ring: list[float]) -> dict[str, Any]:
    return rounded({"type": "Polygon", "coordinates": [list(ring)]})


def test_union_polygons_array_matches_the_page(emulator):
    # geo-union-polygons-array-function.md, examples 1 (three polygons) and 2 (two polygons)
    query = f"print geo_union_polygons_array(dynamic([{PARK}, {LAKE}, {SOUTH}]))"
    assert shape_of(emulator, query) == polygon(
        [-73.972599326729608, 40.765330371902991], [-73.960302383706178, 40.782140794645024], [-73.9577, 40.7789],
        [-73.94622, 40.79249], [-73.9526593223173, 40.792584227716468], [-73.9495, 40.7969], [-73.95807, 40.80068],
        [-73.9639277517478, 40.792748258673875], [-73.96888, 40.792819999999992], [-73.9662719791645, 40.7895734224338],
        [-73.9803360309571, 40.770518810606404], [-73.9936, 40.7663], [-73.97171, 40.756550000000004],
        [-73.972599326729608, 40.765330371902991],
    )  # fmt: skip
    assert shape_of(emulator, f"print geo_union_polygons_array(dynamic([{PARK}, {LAKE}]))") == polygon(
        [-73.9495, 40.7969], [-73.95807, 40.80068], [-73.9639277517478, 40.792748258673875],
        [-73.96888, 40.792819999999992], [-73.9662719791645, 40.7895734224338], [-73.98201, 40.76825],
        [-73.97317, 40.76455], [-73.960302383706178, 40.782140794645024], [-73.9577, 40.7789], [-73.94622, 40.79249],
        [-73.9526593223173, 40.792584227716468], [-73.9495, 40.7969],
    )  # fmt: skip


def test_union_of_a_cell_and_its_neighbors_matches_the_page(emulator):
    # geo-s2cell-neighbors-function.md, example 4: the union of a cell's and its neighbors' polygons
    query = """let s2cell = '89c259';
print cells = array_concat(pack_array(s2cell), geo_s2cell_neighbors(s2cell))
| mv-expand cells to typeof(string)
| project polygons = geo_s2cell_to_polygon(cells)
| summarize arr = make_list(polygons)
| project polygon = geo_union_polygons_array(arr)"""
    assert shape_of(emulator, query) == polygon(
        [-73.841906340776248, 40.695446474556284], [-73.841906340776248, 40.774477568182071],
        [-73.841906340776248, 40.853401155678846], [-73.935982114337421, 40.866846163445771],
        [-74.030012249838478, 40.880202851376716], [-74.1239959854733, 40.893471289549758],
        [-74.1239959854733, 40.814531536204242], [-74.1239959854733, 40.735483949993387],
        [-74.1239959854733, 40.656328734184143], [-74.030012249838478, 40.643076628676461],
        [-73.935982114337421, 40.629736433321796], [-73.841906340776248, 40.616308079144915],
        [-73.841906340776248, 40.695446474556284],
    )  # fmt: skip


def test_intersection_2polygons_matches_the_page(emulator):
    # geo-intersection-2polygons-function.md, example 1
    first = '{"type":"Polygon","coordinates":[[[-73.9630937576294,40.77498840732385],[-73.963565826416,40.774383111780914],[-73.96205306053162,40.773745311181585],[-73.96160781383514,40.7743912365898],[-73.9630937576294,40.77498840732385]]]}'  # noqa: E501
    second = '{"type":"Polygon","coordinates":[[[-73.96213352680206,40.775045280447145],[-73.9631313085556,40.774578106920345],[-73.96207988262177,40.77416780398293],[-73.96213352680206,40.775045280447145]]]}'  # noqa: E501
    assert shape_of(emulator, f"print geo_intersection_2polygons(dynamic({first}), dynamic({second}))") == polygon(
        [-73.962105776437156, 40.774591360999679], [-73.962642403166868, 40.774807020251778],
        [-73.9631313085556, 40.774578106920352], [-73.962079882621765, 40.774167803982927],
        [-73.962105776437156, 40.774591360999679],
    )  # fmt: skip


def test_intersection_line_with_polygon_matches_the_page(emulator):
    # geo-intersection-line-with-polygon-function.md, examples 1 (one piece) and 2 (a polygon with a hole)
    line = '{"type":"LineString","coordinates":[[-73.985195,40.788275],[-73.974552,40.779761]]}'
    triangle = '{"type":"Polygon","coordinates":[[[-73.9712905883789,40.78580561168767],[-73.98004531860352,40.775276834803655],[-73.97000312805176,40.77852663535664],[-73.9712905883789,40.78580561168767]]]}'  # noqa: E501
    query = f"print geo_intersection_line_with_polygon(dynamic({line}), dynamic({triangle}))"
    expected = {
        "type": "LineString",
        "coordinates": [[-73.975611956578192, 40.78060906714618], [-73.974552, 40.779761]],
    }
    assert shape_of(emulator, query) == rounded(expected)
    line = '{"type":"LineString","coordinates":[[-110.522, 39.198],[-91.428, 40.880]]}'
    holed = '{"type":"Polygon","coordinates":[[[-90.263,36.738],[-102.041,45.274],[-109.335,36.527],[-90.263,36.738]],[[-100.393,41.705],[-103.139,38.925],[-97.558,39.113],[-100.393,41.705]]]}'  # noqa: E501
    query = f"print geo_intersection_line_with_polygon(dynamic({line}), dynamic({holed}))"
    expected = {"type": "MultiLineString", "coordinates": [
        [[-106.89353655881905, 39.769226209776306], [-101.74448553679453, 40.373506008712525]],
        [[-99.136499431328858, 40.589336512699994], [-95.284527737311791, 40.799060242246348]]]}  # fmt: skip
    assert shape_of(emulator, query) == rounded(expected)


def test_perimeter_of_overlapping_polygons_is_their_unions(emulator):
    # geo-polygon-perimeter-function.md, example 2: a MultiPolygon of two overlapping polygons
    polygons = '{"type":"MultiPolygon","coordinates":[[[[-73.9495,40.7969],[-73.95807266235352,40.80068603561921],[-73.98201942443848,40.76825672305777],[-73.97317886352539,40.76455136505513],[-73.9495,40.7969]]],[[[-73.94262313842773,40.775991804565585],[-73.98107528686523,40.791849155467695],[-73.99600982666016,40.77092185281977],[-73.96150588989258,40.75609977566361],[-73.94262313842773,40.775991804565585]]]]}'  # noqa: E501
    assert rounded(rows_of(emulator, f"print geo_polygon_perimeter(dynamic({polygons}))")[0][0]) == rounded(
        15943.5384578745
    )


def test_shapes_the_pages_do_not_show_stay_refused(emulator):
    far = '{"type":"Polygon","coordinates":[[[5,5],[6,5],[6,6],[5,5]]]}'
    # a union of disjoint polygons: no page shows the order of a MultiPolygon's parts
    assert "one ring" in refusal(emulator, f"print geo_union_polygons_array(dynamic([{PARK}, {far}]))")
    square = '{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[4,4],[4,6],[6,6],[6,4],[4,4]]]}'
    inner = '{"type":"Polygon","coordinates":[[[2,2],[8,2],[8,8],[2,8],[2,2]]]}'
    # an intersection with a hole: no page shows how a hole's ring is printed
    assert "one ring" in refusal(emulator, f"print geo_intersection_2polygons(dynamic({square}), dynamic({inner}))")
