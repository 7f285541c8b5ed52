"""Importers: other formats -> detection data (the dict a detection file is written from). One module per
format reads a source document; convert.py turns what it read into detection data."""
