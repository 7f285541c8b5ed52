"""The KQL front end: lexer, lossless syntax tree, parser. Knows nothing of YAML or deployment."""

from .lexer import T, Token, tokenize
from .parser import ParseResult, parse
from .syntax import KqlDiagnostic, LineIndex, Node, SyntaxDiagnostic

__all__ = ["KqlDiagnostic", "LineIndex", "Node", "ParseResult", "SyntaxDiagnostic", "T", "Token", "parse", "tokenize"]
