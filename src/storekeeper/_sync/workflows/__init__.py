# Generated from src/storekeeper/_async/workflows/__init__.py by tools/gen_sync.py: do not edit.

"""Workflow executions and task states: one module per backend family, sharing :mod:`.base`."""
