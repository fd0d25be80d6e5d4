"""Validation of generated skillsets: static checks, isolated smoke runs, the sweep, coverage.

`static` reads a generated file without running it; `smoke` runs one model type on one backend
in the current process; `isolate` runs a call in a supervised child process; `sweep` spreads
smoke runs over Dask workers; `coverage` summarises compatibility records for people.
"""
