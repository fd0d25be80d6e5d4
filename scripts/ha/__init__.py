"""The high-availability Prefect stack (`make ha-up`): see scripts/ha/stack.py."""
