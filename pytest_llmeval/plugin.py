"""pytest hooks and fixtures (placeholder)."""
