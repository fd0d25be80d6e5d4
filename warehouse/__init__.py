"""Stored metrics and their analysis: DuckDB warehouse, validated loading, Parquet exchange."""
