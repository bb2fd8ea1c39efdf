"""The JSON API for the bot side and developers' CI (``/api/v1``).

GET  /index, /revocations (signed; ETag / If-None-Match → 304), /public-key
GET  /modules/{name}/releases/{version}/download (published or yanked releases)
GET  /licences                                   (Bearer token: the token owner's licences)
POST /modules/{name}/releases                    (Bearer token of the module's owner; body: the archive)
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from ..accounts.api_tokens import authenticate
from ..db.models import Account, Release
from ..errors import NotFound, Refused
from ..licences.service import of_user
from ..publishing import Published
from ..releases.service import upload_release
from .keys import CATALOG

routes = web.RouteTableDef()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _signed(request: web.Request, published: Published) -> web.Response:
    headers = {"ETag": published.etag, "Cache-Control": "no-cache"}
    if published.etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    return web.Response(body=published.body, content_type="application/json", headers=headers)


@routes.get("/api/v1/index")
async def index(request: web.Request) -> web.Response:
    return _signed(request, await request.app[CATALOG].publisher.index())


@routes.get("/api/v1/revocations")
async def revocations(request: web.Request) -> web.Response:
    return _signed(request, await request.app[CATALOG].publisher.revocations())


@routes.get("/api/v1/public-key")
async def public_key(request: web.Request) -> web.Response:
    signer = request.app[CATALOG].signer
    return web.json_response({"algorithm": "Ed25519", "public_key": signer.public_key_text, "key_id": signer.key_id})


@routes.get("/api/v1/modules/{name}/releases/{version}/download")
async def download(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    name, version = request.match_info["name"], request.match_info["version"]
    async with catalog.sessions() as db:
        release = await db.scalar(select(Release).where(Release.module == name, Release.version == version))
    if release is None or release.status not in ("published", "yanked"):
        return _error(404, f"no published release {version!r} of module {name!r}")
    suffix = "zip" if release.archive_kind == "zip" else "tar.gz"
    return web.Response(
        body=catalog.storage.get(release.storage_key),
        content_type="application/zip" if suffix == "zip" else "application/gzip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}-{version}.{suffix}"',
            "X-Release-SHA256": release.sha256,
            "X-Release-Signature": release.signature,
            "ETag": f'"{release.sha256}"',
        },
    )


async def _account(request: web.Request, db: object) -> Account | None:
    return await authenticate(db, request.headers.get("Authorization"))  # type: ignore[arg-type]


@routes.get("/api/v1/licences")
async def licences(request: web.Request) -> web.Response:
    async with request.app[CATALOG].sessions.begin() as db:
        account = await _account(request, db)
        if account is None:
            return _error(401, "Authorization: Bearer <API token from your cabinet> is required")
        rows = await of_user(db, account.tg_id)
    return web.json_response(
        {
            "user_id": account.tg_id,
            "licences": [
                {
                    "licence_id": r.id,
                    "module": r.module,
                    "bot_id": r.bot_id,
                    "token": r.token,
                    "revoked": r.revoked_at is not None,
                }
                for r in rows
            ],
        }
    )


@routes.post("/api/v1/modules/{name}/releases")
async def upload(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    name = request.match_info["name"]
    data = await request.read()
    try:
        async with catalog.sessions.begin() as db:
            account = await _account(request, db)
            if account is None:
                return _error(401, "Authorization: Bearer <API token from your cabinet> is required")
            outcome = await upload_release(
                db,
                catalog.storage,
                catalog.checker,
                catalog.signer,
                name,
                account.tg_id,
                data,
                request.headers.get("X-Changelog", "")[:20_000],
            )
    except NotFound:
        return _error(404, f"you have no module {name!r} (apply for it first)")
    except Refused as exc:
        return _error(409, str(exc))
    body = {"report": outcome.report.to_json(), "refusal": outcome.refusal}
    if outcome.release is None:
        return web.json_response({"accepted": False, **body}, status=422)
    release = outcome.release
    return web.json_response(
        {
            "accepted": True,
            "version": release.version,
            "status": release.status,
            "sha256": release.sha256,
            "moderation": release.moderation_note,
            **body,
        },
        status=201,
    )
