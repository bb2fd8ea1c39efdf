"""The module catalog: upload validation, index build and fetch at 1 000 modules × 10 releases, offline verification.

    PYTHONPATH=$PWD python benchmarks/bench_catalog.py [--modules 1000 --releases 10 --starts 3]

Measured, medians side by side in one run:
- validating a typical upload (the project's ``hello_world`` zipped): archive + layout + checker,
  and the whole check with the start in a sandboxed process (a child process running the real
  ``ModuleRuntime`` with ``ModuleSandboxes``);
- building and signing the index of ``--modules`` × ``--releases`` published releases (the
  catalog's ``Publisher``, from PostgreSQL), and its size;
- fetching it over HTTP from the running catalog: a cached 200 and a 304 (``If-None-Match``);
- verifying it offline (``catalog.verify.verify_index``) and verifying one licence (``verify_licence``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from sqlalchemy import insert

from benchmarks._common import machine_info, print_header, print_table, summarize, write_results
from catalog import counters
from catalog.config import CatalogSettings, UploadLimits
from catalog.db.models import Account, Licence, Module, Release
from catalog.demo import folder_zip
from catalog.licences.service import licence_token
from catalog.server import running_catalog
from catalog.uploads.checks import UploadChecker
from catalog.verify import load_public_key, verify_index, verify_licence
from database.embedded import EmbeddedPostgres

PROJECT = Path(__file__).resolve().parent.parent


async def bench_uploads(starts: int, static_runs: int) -> dict[str, object]:
    data = folder_zip(PROJECT / "modules" / "hello_world", "hello_world")
    static, full = UploadChecker(UploadLimits(), start_check=False), UploadChecker(UploadLimits(), start_check=True)
    static_times, full_times = [], []
    for _ in range(static_runs):
        began = time.perf_counter()
        assert (await static.check(data, "hello_world")).ok
        static_times.append(time.perf_counter() - began)
    first = 0.0
    async with full:
        for i in range(starts + 1):
            began = time.perf_counter()
            report = await full.check(data, "hello_world")
            elapsed = time.perf_counter() - began
            assert report.ok, report.errors
            if i == 0:
                first = elapsed  # includes starting the warm check process (runtime import, zygote)
            else:
                full_times.append(elapsed)
    return {
        "archive_bytes": len(data),
        "static_s": summarize(static_times),
        "first_with_sandboxed_start_s": first,
        "with_sandboxed_start_s": summarize(full_times),
    }


async def fill(catalog: object, modules: int, releases: int) -> None:
    sessions = catalog.sessions  # type: ignore[attr-defined]
    async with sessions.begin() as db:
        await db.execute(insert(Account), [{"tg_id": 1, "first_name": "dev"}])
        await db.execute(
            insert(Module), [{"name": f"module_{i:04d}", "owner_id": 1, "summary": f"Модуль номер {i}"} for i in range(modules)]
        )
        rows = [
            {
                "module": f"module_{i:04d}",
                "version": f"1.{j}.0",
                "sha256": f"{i:032x}{j:032x}",
                "size": 10_000 + j,
                "storage_key": f"releases/module_{i:04d}/1.{j}.0.zip",
                "archive_kind": "zip",
                "signature": "s" * 86,
                "requests": {"network": True, "tcp_ports": [443]} if j % 3 == 0 else {},
                "reasons": {},
                "report": {},
                "status": "published",
                "uploaded_by": 1,
                "owner_id": 1,
                "changelog": "",
            }
            for i in range(modules)
            for j in range(releases)
        ]
        for start in range(0, len(rows), 2000):
            await db.execute(insert(Release), rows[start : start + 2000])
        await counters.bump(db, counters.INDEX)


async def bench_index(url: str, data_dir: Path, modules: int, releases: int, runs: int) -> dict[str, object]:
    settings = CatalogSettings(data_dir=data_dir, database_url=url, port=0, start_check=False)
    async with running_catalog(settings) as running:
        catalog = running.catalog
        began = time.perf_counter()
        await fill(catalog, modules, releases)
        fill_s = time.perf_counter() - began
        build = []
        for _ in range(runs):
            async with catalog.sessions.begin() as db:
                await counters.bump(db, counters.INDEX)  # a change: the next request re-builds and re-signs
            began = time.perf_counter()
            published = await catalog.publisher.index()
            build.append(time.perf_counter() - began)
        key = load_public_key(catalog.signer.public_key_text)
        fetch, not_modified = [], []
        async with aiohttp.ClientSession(running.url) as http:
            async with http.get("/api/v1/index") as response:
                body = await response.read()
                etag = response.headers["ETag"]
            for _ in range(runs * 10):
                began = time.perf_counter()
                async with http.get("/api/v1/index") as response:
                    assert response.status == 200 and len(await response.read()) == len(body)
                fetch.append(time.perf_counter() - began)
                began = time.perf_counter()
                async with http.get("/api/v1/index", headers={"If-None-Match": etag}) as response:
                    assert response.status == 304
                not_modified.append(time.perf_counter() - began)
        import json

        envelope = json.loads(body)
        verify = []
        for _ in range(runs):
            began = time.perf_counter()
            index = verify_index(envelope, key)
            verify.append(time.perf_counter() - began)
        assert len(index.modules) == modules
        licence = Licence(
            id="lic_bench", module="module_0000", user_id=42, bot_id=7, not_after=datetime(2099, 1, 1),
            issued_at=datetime(2026, 1, 1), issued_by=1, token="",
        )  # fmt: skip
        token = licence_token(catalog.signer, licence)
        per_call = []
        for _ in range(5):
            n = 2000
            began = time.perf_counter()
            for _ in range(n):
                verify_licence(token, key, module="module_0000", user_ids=[1, 42], bot_id=7, revoked=())
            per_call.append((time.perf_counter() - began) / n)
        return {
            "modules": modules,
            "releases": modules * releases,
            "fill_s": fill_s,
            "index_bytes": len(published.body),
            "build_and_sign_s": summarize(build),
            "get_cached_200_ms": summarize(fetch, 1000),
            "get_304_ms": summarize(not_modified, 1000),
            "verify_index_s": summarize(verify),
            "verify_licence_us": summarize(per_call, 1e6),
        }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", type=int, default=1000)
    parser.add_argument("--releases", type=int, default=10)
    parser.add_argument("--starts", type=int, default=3, help="uploads checked with the sandboxed start")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    info = machine_info()
    print_header("catalog", info)
    uploads = await bench_uploads(args.starts, static_runs=20)
    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as folder:
        with EmbeddedPostgres(Path(folder) / "pg") as pg:
            index = await bench_index(pg.url, Path(folder) / "catalog", args.modules, args.releases, args.runs)
    rows = [
        ("upload check: archive+layout+checker (s)", uploads["static_s"]),
        ("upload check: + sandboxed start, warm (s)", uploads["with_sandboxed_start_s"]),
        (f"index build+sign, {index['releases']} releases (s)", index["build_and_sign_s"]),
        ("GET /api/v1/index, cached 200 (ms)", index["get_cached_200_ms"]),
        ("GET /api/v1/index, 304 (ms)", index["get_304_ms"]),
        ("verify_index (s)", index["verify_index_s"]),
        ("verify_licence per call (µs)", index["verify_licence_us"]),
    ]
    print_table(["measure", "p50", "min", "max", "n"], [[name, m["p50"], m["min"], m["max"], m["n"]] for name, m in rows])
    ratio = index["get_cached_200_ms"]["p50"] / index["get_304_ms"]["p50"]
    print(f"   first check with a start (starting the warm check process): {uploads['first_with_sandboxed_start_s']:.1f} s")
    print(f"   index: {index['index_bytes']} bytes; cached 200 / 304 p50 ratio {ratio:.2f}")
    write_results("bench_catalog", {"machine": info, "uploads": uploads, "index": index})


if __name__ == "__main__":
    asyncio.run(main())
