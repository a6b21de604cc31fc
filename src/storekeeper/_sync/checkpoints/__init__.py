# Generated from src/storekeeper/_async/checkpoints/__init__.py by tools/gen_sync.py: do not edit.

"""Checkpoints: one module per backend family, sharing :mod:`.base`."""
