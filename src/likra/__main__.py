"""``python -m likra`` runs the CLI."""

from likra.cli import main

main()
