"""Datasets: the built-in ones and uploads (metadata in PostgreSQL, files in object storage)."""
