"""Module webhooks on the host's HTTP server.

A module's ``get_webhook_data()`` path is served by the host (the module has no socket of its
own): the request is checked (POST, as upstream registers it; body size), forwarded to the
module process and its answer returned. A module that is down gets 503, one that does not
answer in time 504, one whose handler raised 500 — each logged with the module's name.

A sandboxed module's paths are its own: under ``/modules/<name>/``, or granted by the operator
(``webhook_paths = ["/api/payhook"]`` in ``modules.toml``; upstream modules register fixed paths
that payment providers call). A path that collides with one of the core's routes, or that two
modules claim (load order never picks one), is served for none of them; each refusal is logged
once per module incarnation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiohttp import web

from runtime.calls.module_call import Answered, ModuleFailed, ProcessGone, TimedOut, ask, log_failure
from runtime.module_runtime import ModuleRuntime
from runtime.supervision.supervisor import ModuleSupervisor

log = logging.getLogger("solobot.runtime")

# What the HTTP caller gets when the module did not answer (``runtime.calls.module_call``).
FAILURE_RESPONSES = {
    ProcessGone: (503, "module unavailable"),
    TimedOut: (504, "module timed out"),
    ModuleFailed: (500, "module error"),
}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "content-length", "host"}


class ModuleWebhooks:
    def __init__(self, runtime: ModuleRuntime, reserved_paths: Iterable[str] = ()) -> None:
        self.runtime = runtime
        self.reserved = frozenset(reserved_paths)
        self._refused: set[tuple[str, int]] = set()  # (module, pid) already logged

    def routes(self) -> dict[str, ModuleSupervisor]:
        """Path → module; paths a module does not own, or that two modules claim, are left out (and logged)."""
        claimed: dict[str, list[tuple[ModuleSupervisor, int]]] = {}
        for supervisor in self.runtime.supervisors:
            manifest = supervisor.last_manifest
            if manifest is None or not manifest.webhook_path:
                continue
            path = manifest.webhook_path
            refusal = self._refusal(supervisor.name, path)
            if refusal is not None:
                self._log_refusal(supervisor, manifest.pid, f"webhook path {path!r} {refusal}; not served")
                continue
            claimed.setdefault(path, []).append((supervisor, manifest.pid))
        table: dict[str, ModuleSupervisor] = {}
        for path, claimants in claimed.items():
            if len(claimants) == 1:
                table[path] = claimants[0][0]
                continue
            names = ", ".join(sup.name for sup, _ in claimants)
            for supervisor, pid in claimants:  # load order does not pick a winner
                self._log_refusal(supervisor, pid, f"webhook path {path!r} is claimed by modules {names}; served for none")
        return table

    def _refusal(self, module: str, path: str) -> str | None:
        if not path.startswith("/"):
            return "is not a path (it must start with '/')"
        if path in self.reserved:
            return "collides with the core"
        permissions = self.runtime.permissions_of(module)
        if permissions is None or permissions.trusted or path.startswith(f"/modules/{module}/"):
            return None
        if path in permissions.webhook_paths:
            return None
        return (
            f"is not the module's own (/modules/{module}/…): the operator can grant it in modules.toml "
            f'[modules.{module}] webhook_paths = ["{path}"]'
        )

    def _log_refusal(self, supervisor: ModuleSupervisor, pid: int, message: str) -> None:
        if (supervisor.name, pid) not in self._refused:
            self._refused.add((supervisor.name, pid))
            log.error("[module %s] %s", supervisor.name, message)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        supervisor = self.routes().get(request.path)
        if supervisor is None:
            raise web.HTTPNotFound()
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(request.method, ["POST"])
        limit = self.runtime.config.webhook_max_body
        if request.content_length is not None and request.content_length > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
        body = await request.content.read(limit + 1)
        if len(body) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
        params = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string,
            "headers": [[k, v] for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP],
            "body": body,
            "remote": request.remote,
        }
        outcome = await ask(supervisor, "webhook", params, self.runtime.config.webhook_timeout)
        if isinstance(outcome, Answered):
            return _response(supervisor.name, outcome.value)
        status, text = FAILURE_RESPONSES[type(outcome)]
        log_failure(supervisor.name, f"webhook {request.path}", outcome, f"answered {status}")
        return web.Response(status=status, text=text)


def _response(module: str, reply: object) -> web.Response:
    """The module's answer, validated: it comes from an untrusted process."""
    if not isinstance(reply, dict):
        log.error("[module %s] webhook answer is not a map; answered 502", module)
        return web.Response(status=502, text="bad module answer")
    status, headers, body = reply.get("status"), reply.get("headers") or [], reply.get("body") or b""
    if not (type(status) is int and 100 <= status <= 599 and isinstance(body, bytes) and isinstance(headers, list)):
        log.error("[module %s] webhook answer has a bad status, headers or body; answered 502", module)
        return web.Response(status=502, text="bad module answer")
    response = web.Response(status=status, body=body)
    for item in headers[:100]:
        if isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item):
            name, value = item
            if name.lower() not in HOP_BY_HOP and "\n" not in value and "\r" not in value and "\n" not in name:
                response.headers[name] = value
    return response
