"""Asking module processes things: hook calls, their fan-out, and what their replies may be.

``hook_arguments`` turns a hook's process-local arguments into wire values; ``fanout`` sends
one hook call to every subscribed module at once under one deadline; ``protocol`` decodes the
untrusted replies (the handshake manifest, hook replies).
"""
