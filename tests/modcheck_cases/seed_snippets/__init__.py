# ruff: noqa  (the seed guide's code verbatim: a modcheck fixture)
__all__ = ("router",)
from .router import router

# ВАЖНО: чтобы таблицы модуля попали в metadata и создавались через init_db,
# импортируйте модели на уровне модуля
from . import models  # noqa: F401
