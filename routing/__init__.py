"""Routing core (pure Python, no Django): tags, binning, candidates, performance prediction, strategies, gain."""
