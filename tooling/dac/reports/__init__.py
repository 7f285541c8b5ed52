"""Output formats and presentation: diagnostics as text, JSON, GitHub annotations and SARIF 2.1.0; test
results as tables, JSON and JUnit XML; plans, the pull-request report, ATT&CK coverage and the docs site.
The only package besides cli/ that draws for a terminal (rich)."""

FORMATS = ("text", "json", "github", "sarif")
