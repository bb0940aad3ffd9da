"""Pure-Python annotation logic (no Django import): schemes, label conventions, aggregation, agreement."""
