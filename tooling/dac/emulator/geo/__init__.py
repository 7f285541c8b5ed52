"""Geospatial math for the emulator, in Python, each part with the DuckDB UDFs or table that expose
it to SQL (registered on every session): ip.py places IPv4 addresses (geo_info_from_ip_address),
cells.py computes the geohash, S2 and H3 cell grids, shapes.py the lines, polygons and distances on
the sphere. The KQL functions that call them are in ../functions/ (geo_cells.py, geo_shapes.py).
"""
