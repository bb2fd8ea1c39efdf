LEGACY_PREFIX = "legacy_"
