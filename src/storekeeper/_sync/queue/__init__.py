# Generated from src/storekeeper/_async/queue/__init__.py by tools/gen_sync.py: do not edit.

"""Durable queues: one module per backend family, sharing :mod:`.base`."""
