# Generated from src/storekeeper/_async/langgraph/__init__.py by tools/gen_sync.py: do not edit.

"""Storage of the LangGraph checkpointer (:mod:`storekeeper.integrations.langgraph`):
one module per backend family, sharing :mod:`.base`."""
