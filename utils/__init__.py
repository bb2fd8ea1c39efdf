"""Core utilities modules import by upstream names."""
