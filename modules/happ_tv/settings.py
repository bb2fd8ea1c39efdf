# Nothing to configure yet.
