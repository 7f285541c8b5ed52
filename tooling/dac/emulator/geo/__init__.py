"""Geospatial math for the emulator, in Python, each part with the DuckDB UDFs or table that expose
it to SQL (registered on every session): ip.py places IPv4 addresses (geo_info_from_ip_address),
cells.py computes the geohash, S2 and H3 cell grids, spherical.py holds the vectors and GeoJSON
parsing on the sphere, shapes.py the lines, polygons and distances, and s2ops.py the unions and
intersections S2's own library computes. The KQL functions that call them are in ../functions/
(geo_cells.py, geo_shapes.py).
"""
