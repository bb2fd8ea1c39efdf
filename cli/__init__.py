"""``solobot``: run the bot, and operate its modules (``solobot --help``).

Commands that operate a running bot (``modules status|start|stop|…``) talk to it over its
control socket (``host.control``); ``modules check|new|permissions`` work on files only.
"""
