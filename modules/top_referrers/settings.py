# Show the "top referrers" button in the profile.
ENABLE_BUTTON = True
# Only referrals whose payments were made from this moment on count (ISO 8601, UTC).
START_AT_ISO = "2025-08-18T00:00:00Z"
# A referred user counts once their successful top-ups since START_AT add up to this many roubles.
MIN_TOPUP_RUB = 100
# How many places the table shows.
TOP_N = 5
