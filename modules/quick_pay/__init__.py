__all__ = ("router",)
from .router import get_fast_flow_handler, router
