"""multipart/form-data fields, as Bot API requests (and webhook answers carrying a method) send them."""

from __future__ import annotations

from aiohttp import BodyPartReader, MultipartReader
from aiohttp.multipart import MultipartResponseWrapper

from .methods import Params, UploadedFile


async def read_form_parts(reader: MultipartReader | MultipartResponseWrapper) -> Params:
    """Files as ``UploadedFile``, every other field as text."""
    params: Params = {}
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        data = await part.read()
        if part.filename is not None:
            params[part.name] = UploadedFile(part.filename, bytes(data), part.headers.get("Content-Type"))
        else:
            params[part.name] = data.decode(part.get_charset("utf-8"))
    return params
