"""Output formats for diagnostics: human text, JSON, GitHub workflow annotations."""

FORMATS = ("text", "json", "github")
