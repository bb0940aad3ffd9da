"""Aggregates, immutable dataset versions (the hybrid dataset) and exports with provenance."""
