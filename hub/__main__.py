"""``python -m hub``: the same as the ``hub`` command."""

from hub.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
