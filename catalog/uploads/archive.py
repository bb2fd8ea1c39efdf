"""Unpacking an uploaded release safely: ``.zip`` or ``.tar.gz`` of ``modules/<name>/`` (or ``<name>/``).

Refused, with nothing written outside the target folder: absolute paths, ``..``, backslashes,
links (symbolic or hard), devices and FIFOs, more entries than allowed, more unpacked bytes
than allowed (counted while decompressing, not taken from headers), a member whose unpacked
size is far beyond its packed size (a bomb), entries outside the module's folder, and archives
that are corrupt (a CRC mismatch, a truncated stream). Files are written 0644, folders 0755:
nothing of the archive's owners or modes is kept.
"""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from ..config import UploadLimits

CHUNK = 64 * 1024
RATIO_FLOOR = 1024 * 1024  # members smaller than this are not judged by ratio (a tiny file of zeros is fine)


class ArchiveRejected(ValueError):
    """The archive is unsafe or malformed; the message is for the developer."""


@dataclass(frozen=True)
class Member:
    path: str  # as in the archive
    is_dir: bool
    size: int  # declared unpacked size
    packed: int  # compressed size when the format says (zip), else 0
    opener: object  # callable returning a binary stream


def archive_kind(data: bytes) -> str:
    if data.startswith(b"PK\x03\x04"):
        return "zip"
    if data.startswith(b"\x1f\x8b"):
        return "tar.gz"
    raise ArchiveRejected("Архив должен быть .zip или .tar.gz с папкой modules/<имя>/ внутри.")


def _zip_members(data: bytes) -> Iterator[Member]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ArchiveRejected(f"Архив .zip повреждён ({exc}).") from None
    for info in archive.infolist():
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ArchiveRejected(f"{info.filename}: ссылки в архиве запрещены.")
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # no type bits: a plain file
            raise ArchiveRejected(f"{info.filename}: в архиве допустимы только файлы и папки (не устройства и не каналы).")
        if info.flag_bits & 0x1:
            raise ArchiveRejected(f"{info.filename}: зашифрованные архивы не принимаются.")
        yield Member(info.filename, info.is_dir(), info.file_size, info.compress_size, lambda info=info: archive.open(info))


def _tar_members(data: bytes) -> Iterator[Member]:
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
        members = iter(archive)
        while True:
            try:
                info = next(members)
            except StopIteration:
                return
            if info.issym() or info.islnk():
                raise ArchiveRejected(f"{info.name}: ссылки в архиве запрещены.")
            if not (info.isreg() or info.isdir()):
                raise ArchiveRejected(f"{info.name}: в архиве допустимы только файлы и папки (не устройства и не каналы).")
            yield Member(info.name, info.isdir(), info.size, 0, lambda info=info: archive.extractfile(info))
    except (tarfile.TarError, EOFError, OSError, zipfile.BadZipFile, zlib.error) as exc:
        raise ArchiveRejected(f"Архив .tar.gz повреждён ({exc.__class__.__name__}: {exc}).") from None


def _relative(path: str, module: str) -> PurePosixPath | None:
    """The member's path inside the module folder; None for the folders leading to it; ArchiveRejected when unsafe."""
    if "\\" in path or "\x00" in path or path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise ArchiveRejected(f"{path[:200]!r}: абсолютные пути и обратные косые черты в архиве запрещены.")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveRejected(f"{path[:200]!r}: «..» в пути архива запрещено (выход за папку модуля).")
    for prefix in (["modules", module], [module]):
        if parts[: len(prefix)] == prefix:
            rest = parts[len(prefix) :]
            return PurePosixPath(*rest) if rest else None
    if parts in (["modules"], []):
        return None
    raise ArchiveRejected(f"{path[:200]!r}: всё содержимое должно лежать в папке modules/{module}/ (или {module}/).")


def _copy(source: IO[bytes], target: Path, budget: int, member: Member, limits: UploadLimits) -> int:
    written = 0
    with open(target, "wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > member.size or written > limits.file_bytes or written > budget:
                raise ArchiveRejected(
                    f"{member.path}: распаковывается больше заявленного или разрешённого размера (архивная бомба?)."
                )
            out.write(chunk)
    if written != member.size:
        raise ArchiveRejected(f"{member.path}: файл в архиве обрезан.")
    return written


def extract_module(data: bytes, module: str, target: Path, limits: UploadLimits) -> list[str]:
    """Unpack the module's folder into ``target`` (which must not exist); its files' relative paths, sorted."""
    if len(data) > limits.archive_bytes:
        raise ArchiveRejected(f"Архив {len(data) / 1048576:.1f} МБ — больше {limits.archive_bytes // 1048576} МБ.")
    members = _zip_members(data) if archive_kind(data) == "zip" else _tar_members(data)
    target.mkdir(mode=0o755, parents=True)
    files: list[str] = []
    total = count = 0
    seen: set[str] = set()
    try:
        for member in members:
            count += 1
            if count > limits.entries:
                raise ArchiveRejected(f"В архиве больше {limits.entries} записей.")
            relative = _relative(member.path, module)
            if relative is None:
                continue
            if member.size > limits.file_bytes or total + member.size > limits.unpacked_bytes:
                raise ArchiveRejected(
                    f"{member.path}: в распакованном виде больше {limits.unpacked_bytes // 1048576} МБ, или файл больше лимита."
                )
            if member.packed and member.size > RATIO_FLOOR and member.size > member.packed * limits.compression_ratio:
                raise ArchiveRejected(
                    f"{member.path}: сжат в {member.size // max(member.packed, 1)} раз — похоже на архивную бомбу."
                )
            key = str(relative)
            if key in seen:
                raise ArchiveRejected(f"{member.path}: путь встречается в архиве дважды.")
            seen.add(key)
            path = target.joinpath(*relative.parts)
            if member.is_dir:
                path.mkdir(mode=0o755, parents=True, exist_ok=True)
                continue
            path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            if path.exists():
                raise ArchiveRejected(f"{member.path}: путь встречается в архиве дважды.")
            stream = member.opener()  # type: ignore[operator]
            try:
                total += _copy(stream, path, limits.unpacked_bytes - total, member, limits)
            except (zipfile.BadZipFile, OSError, EOFError, tarfile.TarError, zlib.error) as exc:
                raise ArchiveRejected(f"{member.path}: архив повреждён ({exc.__class__.__name__}: {exc}).") from None
            path.chmod(0o644)
            files.append(key)
    except RecursionError:  # pragma: no cover - defensive: pathological nesting
        raise ArchiveRejected("Слишком глубокая вложенность папок в архиве.") from None
    if total > len(data) * limits.compression_ratio and total > RATIO_FLOOR:
        raise ArchiveRejected(f"Архив распаковывается в {total // max(len(data), 1)} раз больше себя — похоже на архивную бомбу.")
    if not files:
        raise ArchiveRejected(f"В архиве нет файлов в папке modules/{module}/.")
    return sorted(files)
