__all__ = ("router",)

from .router import router
