"""The aiogram side of the runtime: what lets modules' routers live in other processes.

``update_forwarding`` is the host's router consulted before the core's; ``route_index`` decides
in the host which modules may handle an update; ``bot_gateway`` and ``fsm_gateway`` serve module
processes' Bot API and FSM calls on the host's bot and storage; ``webhooks`` and ``fast_flows``
route module webhooks and fast-flow payments; ``host_services`` bundles what the host lends.
"""
