"""«Подать заявку»: a developer applies for a module name; a moderator approves or rejects it with a reason."""
