"""Flows: the work that spans several areas, composed here so that each area depends only on the
areas below it (``docs/architecture.md``). A flow calls the areas' services; the areas never call a
flow."""
