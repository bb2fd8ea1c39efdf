"""Asking module processes things: hook calls, their fan-out, and what their replies may be.

``module_call`` is the one way to ask a module process something and get a typed outcome
(answered, the module failed, its process is gone, timed out); ``hook_arguments`` turns a
hook's process-local arguments into wire values; ``fanout`` sends one hook call to every
subscribed module at once under one deadline; ``hook_reply`` decodes the untrusted replies.
(The handshake manifest is supervision's: ``runtime.supervision.manifest``.)
"""
