"""Panel calls from a module through the host, and module start with its own packages.

Run from the project root:  PYTHONPATH=/work/main python benchmarks/bench_panels.py

* panel, host direct   the host's ``RemnawaveAPI.get_user_by_uuid`` against the local Remnawave
                       server (``tests/panel_servers``), logged in once: one HTTP round trip;
* panel, via host      the same call made by module code in its own process (granted
                       ``panels = ["remnawave"]``): module → host (``PanelGateway``: grant, address,
                       call checks) → HTTP → back; timed inside the module with ``perf_counter``;
* start, plain         ``rt.start`` after ``rt.stop`` of a module without requirements;
* start, own packages  the same for a module whose ``requirements.txt`` is met by its site folder
                       (``check_requirements`` on the host + ``site.addsitedir`` in the process).

Cases are interleaved per round; 20 rounds x 25 calls for the panel cases, 30 starts each.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
import uuid
from pathlib import Path

from _common import machine_info, print_header, print_table, quiet_runtime_logs, summarize, write_results

import module_deps
import panels
from panels.gateway import PanelGateway
from panels.remnawave import RemnawaveAPI
from runtime import HostServices, ModuleRuntime
from tests.module_deps_cases.wheels import build_wheels
from tests.panel_servers import RemnawaveServer

ROUNDS, CALLS, STARTS = 20, 25, 30
SETTLE = 0.2

PANEL_MODULE = """
import time
from aiogram import Router
from hooks.hooks import register_hook
from panels.remnawave import RemnawaveAPI
router = Router()
_api = {}

@register_hook("bench_panel")
async def bench(url: str, client_id: str, calls: int, **kwargs):
    api = _api.setdefault(url, RemnawaveAPI(url))
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        user = await api.get_user_by_uuid(client_id)
        timings.append(time.perf_counter() - started)
        assert user is not None
    return timings
"""
PLAIN_MODULE = "from aiogram import Router\nrouter = Router()\n"
DEPS_MODULE = "from aiogram import Router\nimport solobot_pure_dep\nrouter = Router()\n"


def write(folder: Path, name: str, source: str, requirements: str | None = None) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text("from .router import router\n")
    (folder / name / "router.py").write_text(source)
    if requirements:
        (folder / name / "requirements.txt").write_text(requirements)


async def main() -> None:
    info = machine_info()
    print_header("bench_panels", info)
    quiet_runtime_logs()
    logging.getLogger("solobot.panels").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        modules_dir, data_dir = root / "modules", root / "data"
        write(modules_dir, "panel_user", PANEL_MODULE)
        write(modules_dir, "plain", PLAIN_MODULE)
        write(modules_dir, "with_deps", DEPS_MODULE, "solobot-pure-dep==2.1\n")
        house = root / "wheels"
        build_wheels(house)
        import os

        os.environ["PIP_FIND_LINKS"], os.environ["PIP_NO_INDEX"] = str(house), "1"
        requirements = module_deps.read_requirements(modules_dir / "with_deps")
        module_deps.install_plan(module_deps.plan_install("with_deps", requirements), module_deps.site_dir(data_dir, "with_deps"))

        async with RemnawaveServer() as server:
            client_id = str(uuid.uuid4())
            server.users[client_id] = {"uuid": client_id, "shortUuid": "s", "username": "bench", "status": "ACTIVE",
                                       "expireAt": "2030-01-01T00:00:00Z", "activeInternalSquads": []}  # fmt: skip
            panels.configure(panels.PanelSettings(remnawave_login="admin", remnawave_password="secret"))
            gateway = PanelGateway(servers=_servers(server.api_url))
            gateway.configure("panel_user", ["remnawave"])
            services = HostServices(panel_gateway=gateway)
            direct_api = RemnawaveAPI(server.api_url)
            assert await direct_api.login("admin", "secret")
            samples: dict[str, list[float]] = {"panel, host direct": [], "panel, via host": [], "start, plain": [],
                                               "start, own packages": []}  # fmt: skip
            async with ModuleRuntime(modules_dir, services=services, packages_dir=module_deps.packages_root(data_dir),
                                     state_file=root / "state.json", sandbox=False) as rt:  # fmt: skip
                states = {s["name"]: s["state"] for s in rt.status()}
                assert states == dict.fromkeys(["panel_user", "plain", "with_deps"], "running"), states
                # warm-up
                await rt.run_hooks("bench_panel", url=server.api_url, client_id=client_id, calls=5)
                for _ in range(5):
                    await direct_api.get_user_by_uuid(client_id)
                for round_ in range(ROUNDS):
                    order = ["direct", "via"] if round_ % 2 == 0 else ["via", "direct"]
                    for case in order:
                        if case == "direct":
                            for _ in range(CALLS):
                                started = time.perf_counter()
                                assert await direct_api.get_user_by_uuid(client_id) is not None
                                samples["panel, host direct"].append(time.perf_counter() - started)
                        else:
                            [timings] = await rt.run_hooks("bench_panel", url=server.api_url, client_id=client_id, calls=CALLS)
                            samples["panel, via host"].extend(timings)
                for i in range(STARTS):
                    for name, key in (("plain", "start, plain"), ("with_deps", "start, own packages"))[:: 1 if i % 2 else -1]:
                        await rt.stop(name)
                        await asyncio.sleep(SETTLE)
                        started = time.perf_counter()
                        await rt.start(name)
                        samples[key].append(time.perf_counter() - started)
                site = module_deps.site_dir(data_dir, "with_deps")
                check = []
                for _ in range(200):
                    started = time.perf_counter()
                    module_deps.check_requirements(modules_dir / "with_deps", site)
                    check.append(time.perf_counter() - started)
                samples["check_requirements (host, per start)"] = check
            await direct_api.aclose()
            await gateway.aclose()
            panels.configure(panels.PanelSettings())
    results = {name: summarize(values, 1000) for name, values in samples.items()}
    print_table(["case (ms)", "n", "p50", "p90", "p99", "min", "max"],
                [[name, r["n"], r["p50"], r["p90"], r["p99"], r["min"], r["max"]] for name, r in results.items()])  # fmt: skip
    via, direct = results["panel, via host"]["p50"], results["panel, host direct"]["p50"]
    plain, deps = results["start, plain"]["p50"], results["start, own packages"]["p50"]
    print(f"via host / direct (p50): {via / direct:.2f}x (+{via - direct:.2f} ms)")
    print(f"own packages / plain start (p50): {deps / plain:.2f}x")
    write_results("bench_panels", {"machine": info, "results": results})


def _servers(api_url: str):
    async def servers():
        return [{"api_url": api_url, "panel_type": "remnawave"}]

    return servers


if __name__ == "__main__":
    asyncio.run(main())
