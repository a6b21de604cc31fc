# Generated from src/storekeeper/_async/backends/__init__.py by tools/gen_sync.py: do not edit.

"""The async I/O layer: the source of truth, from which ``_sync`` is generated."""
