# Generated from src/storekeeper/_async/sinks/__init__.py by tools/gen_sync.py: do not edit.

"""Sink storage: one module per backend family, sharing :mod:`.base`."""
