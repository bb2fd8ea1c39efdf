"""The admin panel: statistics, maintenance mode, user card with ban/unban."""
