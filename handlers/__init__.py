"""The Solobot core screens modules extend. ``core_routers()`` is how the host assembles them.

Nothing is imported eagerly here: module processes import ``handlers.utils`` and friends
directly, and the routers are built only when the host asks for them.
"""

from __future__ import annotations

from aiogram import Router


def core_routers() -> list[Router]:
    """Core routers in consulting order; the fallback router is last.

    The routers are module-level objects (as upstream); an aiogram router has one parent, so they
    are detached from a previous Dispatcher first: a host (or a test) may assemble a new one.
    """
    from .admin import catalog as admin_catalog
    from .admin import modules as admin_modules
    from .admin import stats as admin_stats
    from .admin import users as admin_users
    from .admin.panel import handler as admin_panel
    from .coupons import router as coupons
    from .fallback import router as fallback
    from .keys import key_create, key_renew, key_view
    from .pay import router as pay
    from .profile import router as profile
    from .start import router as start
    from .tariffs.buy import key_tariffs

    routers = [
        start,
        profile,
        key_view.router,
        key_create.router,
        key_tariffs.router,
        key_renew.router,
        pay,
        coupons,
        admin_panel.router,
        admin_stats.router,
        admin_users.router,
        admin_modules.router,
        admin_catalog.router,
        fallback,
    ]
    for router in routers:
        _detach(router)
    return routers


def _detach(router: Router) -> None:
    parent = router.parent_router
    if parent is not None:
        parent.sub_routers.remove(router)
        router._parent_router = None  # aiogram offers no public way to re-parent a router
