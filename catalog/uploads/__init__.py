"""Upload checks: archive safety, the seed's layout, the project's checker and a sandboxed start."""
