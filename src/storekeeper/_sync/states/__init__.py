# Generated from src/storekeeper/_async/states/__init__.py by tools/gen_sync.py: do not edit.

"""Versioned component state: one module per backend family, sharing :mod:`.base`."""
