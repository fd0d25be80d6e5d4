"""Benchmarks of loaded skills: the timing core, inference, throughput, precision, the Dask sweep.

`measure` times a callable; `inference` and `throughput` measure a loaded skill; `task` is one
(model, hardware, precision) unit of work run on a tagged worker; `sweep` routes the tasks and
writes their rows through the warehouse; `precision` says which combinations run.
"""
