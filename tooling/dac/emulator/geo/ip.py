"""geo_info_from_ip_address() on local data, so that tests are deterministic and offline.

The emulator ships a small table (tooling/dac/data/geo-ipv4.json): the RFC 5737 documentation
ranges, which tests can use freely, and a few well-known public resolvers. An address in none
of them gives an empty bag, as Kusto does for addresses it cannot place.
"""

from __future__ import annotations

import ipaddress
import json
from functools import cache
from importlib import resources

import duckdb


@cache
def _networks() -> list[tuple[ipaddress.IPv4Network, dict]]:
    raw = json.loads(resources.files("dac").joinpath("data/geo-ipv4.json").read_text("utf-8"))
    return [
        (ipaddress.IPv4Network(entry["network"]), {k: v for k, v in entry.items() if k != "network"}) for entry in raw
    ]


def register_geo(connection: duckdb.DuckDBPyConnection) -> None:
    """A table of ranges and a macro over it (kql_ipv4 is defined by the session first)."""
    connection.execute("CREATE TABLE kql_geo (first_ip BIGINT, last_ip BIGINT, info VARCHAR)")
    rows = [
        (int(network.network_address), int(network.broadcast_address), json.dumps(info))
        for network, info in _networks()
    ]
    if rows:
        connection.executemany("INSERT INTO kql_geo VALUES (?, ?, ?)", rows)
    connection.execute(
        "CREATE MACRO kql_geo_info(ip) AS CASE WHEN ip IS NULL THEN NULL ELSE coalesce((SELECT info FROM kql_geo "
        "WHERE kql_ipv4(ip) BETWEEN first_ip AND last_ip LIMIT 1), '{}') END"
    )
