"""Paired runtime primitives: ``rt_async`` and ``rt_sync`` export the same names.

The async I/O layer imports ``rt_async as rt``; the generator rewrites that to
``rt_sync``, so one source drives both twins without thread portals.
"""
