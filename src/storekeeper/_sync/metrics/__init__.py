# Generated from src/storekeeper/_async/metrics/__init__.py by tools/gen_sync.py: do not edit.

"""Component and port metrics: one module per backend family, sharing :mod:`.base`."""
