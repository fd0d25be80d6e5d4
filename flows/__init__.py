"""Prefect flows: generate, validate, benchmark, detect, report, and `nightly` chaining them."""
