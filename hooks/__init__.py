"""Hooks: named extension points modules subscribe to, and the button-operation protocol."""
