"""``python -m storekeeper``: the ``storekeeper`` command."""

from .cli import run

run()
