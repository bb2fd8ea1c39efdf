# A well-behaved, idle module that the operator gave a small memory budget (memory_mb in the
# run's modules.toml). It allocates nothing: it must simply keep running.
from aiogram import Router

router = Router()
