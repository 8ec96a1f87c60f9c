"""Kedro datasets of this project (thin I/O adapters over the core's file formats)."""
