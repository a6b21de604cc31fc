"""Storage of the LangGraph checkpointer (:mod:`storekeeper.integrations.langgraph`):
one module per backend family, sharing :mod:`.base`."""
