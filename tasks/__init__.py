"""Prefect tasks: thin wrappers around the plain functions of hardware/, skillsets/, warehouse/."""
