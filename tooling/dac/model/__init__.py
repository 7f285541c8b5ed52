"""The detection model: a detection file loaded with positions and checked against its schema, the
project configuration (dac.yml), table schemas per dialect, the ATT&CK catalog, query parameters,
and the YAML reading and writing they rest on."""

DIALECTS = ("defender", "sentinel")  # the platforms a query is written for: Defender XDR and Sentinel
