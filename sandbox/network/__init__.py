"""Network by address: what a sandboxed module may connect to, and the host's supervisor that enforces it."""
