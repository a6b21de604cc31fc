"""The async I/O layer: the source of truth, from which ``_sync`` is generated."""
