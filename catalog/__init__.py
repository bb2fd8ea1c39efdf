"""The module catalog (the seed's part 1): developer applications, module management, signed releases and licences.

``solobot catalog serve`` runs it (``catalog.server``); ``catalog.verify`` is the offline
verification the bot side uses (index, releases, licences, revocations) and needs nothing else
from this package.
"""
