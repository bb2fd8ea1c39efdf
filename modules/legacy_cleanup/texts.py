# This module shows no text of its own.
