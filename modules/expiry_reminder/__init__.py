__all__ = ("router",)
from .router import router
from . import models  # noqa: F401
