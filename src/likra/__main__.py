"""``python -m likra``: the same as the ``likra`` command."""

from likra.cli import main

if __name__ == "__main__":
    main()
