"""The catalog: courses and programmes (curricula), their versions, and assignment rules."""
