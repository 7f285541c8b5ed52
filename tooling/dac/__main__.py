"""`python -m dac` runs the command line."""

from .cli import main

main()
