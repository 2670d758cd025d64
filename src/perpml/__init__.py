"""perpml."""
