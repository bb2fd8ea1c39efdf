"""The trust boundary around module processes (ARCHITECTURE.md §8)."""
