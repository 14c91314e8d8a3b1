"""The chat layer: which model, one turn, experiments over a Memory."""
