# Generated from src/storekeeper/_async/cache/__init__.py by tools/gen_sync.py: do not edit.

"""The TTL cache: one module per backend family, sharing :mod:`.base`."""
