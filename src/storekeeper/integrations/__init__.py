"""Adapters that let other ecosystems keep their state in a storekeeper store."""
