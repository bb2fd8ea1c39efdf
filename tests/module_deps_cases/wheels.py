"""Build the two wheels the module-dependency tests install, locally: no index, no network.

``solobot-native-demo`` holds a real compiled CPython extension (built with the system's C
compiler against this interpreter's headers) and requires ``solobot-pure-dep``. The wheels are
assembled by hand (a wheel is a zip with METADATA, WHEEL and RECORD), so no build tool is needed.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

NATIVE_SOURCE = r"""
#include <Python.h>

static PyObject *mul_add(PyObject *self, PyObject *args) {
    long a, b, c;
    if (!PyArg_ParseTuple(args, "lll", &a, &b, &c)) return NULL;
    return PyLong_FromLong(a * b + c);
}

static PyMethodDef methods[] = {{"mul_add", mul_add, METH_VARARGS, "a * b + c, in C"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods};
PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
"""


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _wheel(target: Path, dist: str, version: str, tag: str, files: dict[str, bytes], requires: list[str]) -> Path:
    info = f"{dist.replace('-', '_')}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    purelib = "true" if tag.endswith("none-any") else "false"
    wheel = f"Wheel-Version: 1.0\nGenerator: solobot-tests\nRoot-Is-Purelib: {purelib}\nTag: {tag}\n"
    contents = {**files, f"{info}/METADATA": metadata.encode(), f"{info}/WHEEL": wheel.encode()}
    record = [_record_line(name, data) for name, data in contents.items()] + [f"{info}/RECORD,,"]
    path = target / f"{dist.replace('-', '_')}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


def build_wheels(target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    work = target / "build"
    work.mkdir(exist_ok=True)
    (work / "speedups.c").write_text(NATIVE_SOURCE)
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    extension = work / f"_speedups{suffix}"
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-O1",
            f"-I{sysconfig.get_paths()['include']}",
            str(work / "speedups.c"),
            "-o",
            str(extension),
        ],
        check=True,
    )
    abi = f"cp{sys.version_info.major}{sys.version_info.minor}"
    native = _wheel(
        target,
        "solobot-native-demo",
        "1.0",
        f"{abi}-{abi}-linux_x86_64",
        {
            "solobot_native_demo/__init__.py": b"from ._speedups import mul_add\nfrom solobot_pure_dep import GREETING\n",
            f"solobot_native_demo/_speedups{suffix}": extension.read_bytes(),
        },
        ["solobot-pure-dep>=2"],
    )
    pure_files = {"solobot_pure_dep/__init__.py": b'GREETING = "privet"\n'}
    pure = _wheel(target, "solobot-pure-dep", "2.1", "py3-none-any", pure_files, [])
    return [native, pure]
