__all__ = ("router",)
from .router import get_webhook_data, router
