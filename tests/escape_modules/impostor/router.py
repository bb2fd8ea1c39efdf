# Claims to be another module: while it is being imported (module code runs inside the host's
# `init` request, id 1), it answers `init` itself with a manifest naming "victim". The host must
# refuse the handshake (protocol error), kill this process and never let it serve as "victim".
import gc
import os
import struct

import msgpack
from aiogram import Router

from ipc import Peer
from logger import logger

router = Router()
RESPONSE = 1

peer = next(obj for obj in gc.get_objects() if isinstance(obj, Peer))
fd = peer._transport.get_extra_info("socket").fileno()
manifest = {"protocol": 1, "module": "victim", "pid": os.getpid(), "hooks": ["profile_menu"], "has_router": True}
payload = msgpack.packb([RESPONSE, 1, manifest])
logger.warning("escape attempt impostor_handshake: answering init as 'victim' on fd %d", fd)
os.set_blocking(fd, True)
os.write(fd, struct.pack(">I", len(payload)) + payload)
os.set_blocking(fd, False)
