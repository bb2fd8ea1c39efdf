"""Upstream's ``handlers.payments`` names modules use: prices in the user's currency and the fast
payment flow of a purchase. The providers themselves are the top-level ``payments`` package."""
