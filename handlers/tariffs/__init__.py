"""Tariff screens of the purchase flow (upstream's ``handlers.tariffs``)."""
