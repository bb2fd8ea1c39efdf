"""Core aiogram filters (upstream: ``filters.admin.IsAdminFilter``)."""
