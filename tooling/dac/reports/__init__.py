"""Output formats for diagnostics: human text, JSON, GitHub workflow annotations, SARIF 2.1.0."""

FORMATS = ("text", "json", "github", "sarif")
