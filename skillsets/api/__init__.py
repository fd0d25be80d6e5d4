"""OpenAI-compatible serving of skillsets, and benchmarking of any OpenAI-compatible endpoint.

`engine` runs a loaded skill for the server, `server` is the FastAPI app, `client` sends one
request and times it, `load` drives a load level, `metrics` turns request timings into the
serving-benchmark metrics, `rows` turns those into warehouse rows, `run` ties them together.
"""
