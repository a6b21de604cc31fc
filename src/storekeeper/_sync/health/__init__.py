# Generated from src/storekeeper/_async/health/__init__.py by tools/gen_sync.py: do not edit.

"""Component health: one module per backend family, sharing :mod:`.base`."""
