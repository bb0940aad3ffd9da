"""Model backends and loaders shared across HybridPref (embeddings, LMs, reward models)."""
