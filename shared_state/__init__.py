"""State several bot workers share: in Redis when ``REDIS_URL`` is set, this process's memory otherwise.

Each mechanism has a memory implementation (one worker, as before) and a Redis one (every worker
of the bot, on one machine or several), behind the same small interface, chosen once at start
(``host/shared_state.py``):

* ``user_gate``: the core's per-user throttling (``middlewares/throttling.py``);
* ``token_buckets``: the per-module Bot API rate limits (``sandbox/bot_api_policy.py``);
* ``sent_messages``: the messages each module sent, which it may edit and delete (``sandbox/bot_api_scope.py``);
* ``flag``: the admin's maintenance switch (``middlewares/maintenance.py``);
* ``observed_storage``: aiogram's Redis FSM storage with its outages logged once (``SharedStateUnavailable``);
* the FSM quotas of modules live beside the FSM gateway (``runtime/aiogram_bridge/fsm_quota*.py``).

Every Redis operation is one round trip, atomic where it decides something (``SET NX PX``, one
Lua script). When Redis is unreachable each mechanism fails the way its docstring says, logs once
per outage (``outage.OutageLog``) and uses Redis again as soon as it answers.
"""
