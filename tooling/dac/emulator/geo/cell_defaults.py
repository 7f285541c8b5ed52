"""The documented default precision of each cell function (geohash accuracy, S2 level, H3 resolution),
apart from cells.py so that compiling a query does not load the H3 library until a cell function runs."""

GEOHASH_DEFAULT_ACCURACY = 5
S2_DEFAULT_LEVEL = 11
H3_DEFAULT_RESOLUTION = 6
