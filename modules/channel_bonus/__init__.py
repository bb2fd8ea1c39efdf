__all__ = ("router",)
from .router import router
# ВАЖНО: чтобы таблицы модуля попали в metadata и создавались при старте модуля,
# импортируйте модели на уровне модуля
from . import models  # noqa: F401
