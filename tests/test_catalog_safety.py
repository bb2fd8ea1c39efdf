"""Hostile inputs to the catalog's checks, refused with a message that says what is wrong — and nothing
written outside the folder a check unpacks into: zip slip, absolute paths, links, devices, zip bombs
(honest and lying headers), too many entries, files outside the module's folder, corrupt archives;
image bombs, SVG, 4:3, too small, too large, a file that is not the image it claims; script in
descriptions; names that imitate others; versions that are not semantic.
"""

from __future__ import annotations

import io
import stat
import tarfile
import warnings
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from catalog.config import UploadLimits
from catalog.images import ImageRejected, normalise_image
from catalog.markdown import render_markdown
from catalog.names import confusable_with, name_problem
from catalog.uploads.archive import ArchiveRejected, extract_module
from catalog.uploads.checks import UploadChecker
from catalog.versions import VersionError, check_newer, parse_version
from tests.catalog_fixtures import image_bytes, module_files, tar_archive, zip_archive

LIMITS = UploadLimits()
GOOD = module_files("weather", "1.0.0")


def unpack(tmp_path: Path, data: bytes, limits: UploadLimits = LIMITS) -> list[str]:
    return extract_module(data, "weather", tmp_path / "stage" / "weather", limits)


def everything_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_a_good_archive_unpacks_in_either_layout_and_format(tmp_path: Path) -> None:
    for i, data in enumerate(
        [zip_archive(GOOD, "modules/weather/"), zip_archive(GOOD, "weather/"), tar_archive(GOOD, "modules/weather/")]
    ):
        files = extract_module(data, "weather", tmp_path / str(i) / "weather", LIMITS)
        assert files == sorted(GOOD)
        mode = stat.S_IMODE((tmp_path / str(i) / "weather" / "router.py").stat().st_mode)
        assert mode == 0o644


def zip_with(name: str, content: bytes = b"x", *, mode: int | None = None) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as archive:
        warnings.simplefilter("ignore", UserWarning)  # the duplicate-name case is on purpose
        for key, value in GOOD.items():
            archive.writestr("modules/weather/" + key, value)
        info = zipfile.ZipInfo(name)
        if mode is not None:
            info.external_attr = mode << 16
        archive.writestr(info, content)
    return out.getvalue()


def tar_with(info: tarfile.TarInfo, content: bytes = b"") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for key, value in GOOD.items():
            member = tarfile.TarInfo("modules/weather/" + key)
            member.size = len(value.encode())
            archive.addfile(member, io.BytesIO(value.encode()))
        archive.addfile(info, io.BytesIO(content) if content else None)
    return out.getvalue()


def tar_info(name: str, kind: bytes, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (zip_with("modules/weather/../../evil.py"), "«..»"),
        (zip_with("../../../../tmp/evil.py"), "«..»"),
        (zip_with("/etc/cron.d/evil"), "абсолютные"),
        (zip_with("modules\\weather\\..\\evil.py"), "обратные"),
        (zip_with("modules/weather/link", b"/etc/passwd", mode=stat.S_IFLNK | 0o777), "ссылки"),
        (zip_with("modules/weather/fifo", b"", mode=stat.S_IFIFO | 0o644), "только файлы и папки"),
        (zip_with("modules/other/steal.py"), "modules/weather/"),
        (zip_with("modules/weather/router.py", b"again"), "дважды"),
        (tar_with(tar_info("modules/weather/link", tarfile.SYMTYPE, linkname="/etc/passwd")), "ссылки"),
        (tar_with(tar_info("modules/weather/hard", tarfile.LNKTYPE, linkname="modules/weather/router.py")), "ссылки"),
        (tar_with(tar_info("modules/weather/null", tarfile.CHRTYPE, devmajor=1, devminor=3)), "устройства"),
        (tar_with(tar_info("modules/weather/../../x", tarfile.REGTYPE, size=1), b"x"), "«..»"),
        (b"Rar!\x1a\x07\x00 not a zip", ".zip или .tar.gz"),
        (b"PK\x03\x04 truncated zip", "повреждён"),
        (b"\x1f\x8b\x08\x00 truncated gzip", "повреждён"),
    ],
    ids=[
        "zip-slip", "zip-slip-root", "absolute", "backslash", "zip-symlink", "zip-fifo", "other-folder", "duplicate",
        "tar-symlink", "tar-hardlink", "tar-device", "tar-slip", "not-an-archive", "corrupt-zip", "corrupt-gzip",
    ],
)  # fmt: skip
def test_hostile_archives_are_refused(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(ArchiveRejected, match=message):
        unpack(tmp_path, data)
    outside = everything_under(tmp_path) - everything_under(tmp_path / "stage") - {tmp_path / "stage"}
    assert outside == set(), outside  # nothing written outside the check's folder


def test_a_zip_bomb_is_refused(tmp_path: Path) -> None:
    bomb = zip_archive({**GOOD, "data.bin": b"\0" * (40 * 1024 * 1024)}, "modules/weather/")
    assert len(bomb) < 100_000
    with pytest.raises(ArchiveRejected, match=r"бомб|больше"):
        unpack(tmp_path, bomb)


def test_a_zip_whose_headers_lie_about_sizes_is_refused(tmp_path: Path) -> None:
    honest = zip_archive({**GOOD, "data.bin": b"\0" * 300_000}, "modules/weather/")
    # Claim the big member is 10 bytes in both the local header and the central directory.
    lying = honest.replace((300_000).to_bytes(4, "little"), (10).to_bytes(4, "little"))
    assert lying != honest
    with pytest.raises(ArchiveRejected):
        unpack(tmp_path, lying)


def test_limits_on_entries_total_size_and_archive_size(tmp_path: Path) -> None:
    many = zip_archive({**GOOD, **{f"f{i}.txt": "x" for i in range(30)}}, "modules/weather/")
    with pytest.raises(ArchiveRejected, match="записей"):
        unpack(tmp_path / "a", many, UploadLimits(entries=20))
    with pytest.raises(ArchiveRejected, match="МБ"):
        unpack(
            tmp_path / "b",
            zip_archive({**GOOD, "big.txt": "y" * 2_000_000}, "modules/weather/"),
            UploadLimits(unpacked_bytes=1_000_000),
        )
    with pytest.raises(ArchiveRejected, match="больше"):
        unpack(tmp_path / "c", zip_archive(GOOD, "modules/weather/"), UploadLimits(archive_bytes=100))


def test_a_tampered_archive_is_refused_by_its_checksums(tmp_path: Path) -> None:
    data = bytearray(zip_archive({**GOOD, "payload.txt": "полезная нагрузка " * 50}, "modules/weather/"))
    index = data.find("полезная".encode())
    if index < 0:  # compressed: flip a byte inside the compressed stream of the last member instead
        index = len(data) // 2
    data[index] ^= 0xFF
    with pytest.raises(ArchiveRejected):
        unpack(tmp_path, bytes(data))


# --- images -------------------------------------------------------------------------------------


def normalise(data: bytes, filename: str = "") -> bytes:
    return normalise_image(data, max_bytes=LIMITS.image_bytes, max_pixels=LIMITS.image_pixels, filename=filename)


def test_a_16_9_image_is_re_encoded_without_metadata() -> None:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010E] = "secret GPS note"
    Image.new("RGB", (1920, 1080), (1, 2, 3)).save(out, "JPEG", exif=exif.tobytes())
    stored = normalise(out.getvalue(), "photo.jpg")
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG" and image.size == (1920, 1080)
    assert not image.getexif() and b"secret GPS note" not in stored
    for fmt, name in (("PNG", "a.png"), ("WEBP", "a.webp")):
        assert Image.open(io.BytesIO(normalise(image_bytes(1280, 720, fmt), name))).size == (1280, 720)
    assert Image.open(io.BytesIO(normalise(image_bytes(1292, 720)))).size == (1292, 720)  # within ±1 %


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header declaring a huge canvas, with a tiny (truncated) body: decoding it would need gigabytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (image_bytes(1024, 768), "a.png", "не 16:9"),
        (image_bytes(640, 360), "a.png", "меньше минимума 1280×720"),
        (png_bomb(32000, 18000), "bomb.png", "слишком большое"),
        (png_bomb(9600, 5400), "over-budget.png", "слишком большое"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "a.svg", "SVG"),
        (b"<svg onload=alert(1)></svg>", "a.png", "SVG"),
        (image_bytes(1280, 720, "GIF"), "a.gif", "не является изображением PNG, JPEG или WebP"),
        (b"MZ\x90\x00 an executable", "a.png", "не является изображением"),
        (image_bytes(1280, 720, "JPEG"), "a.png", "внутри JPEG"),
        (image_bytes(1280, 720)[:200], "cut.png", "повреждён|обрезан"),
        (image_bytes(1280, 720) + b"\0" * (6 * 1024 * 1024), "huge.png", "больше 5 МБ"),
    ],
    ids=[
        "4x3",
        "too-small",
        "pixel-bomb",
        "over-pixel-budget",
        "svg",
        "svg-named-png",
        "gif",
        "not-an-image",
        "jpeg-named-png",
        "truncated",
        "over-5mb",
    ],
)
def test_bad_images_are_refused_saying_what_is_expected(data: bytes, filename: str, message: str) -> None:
    with pytest.raises(ImageRejected, match=message) as refused:
        normalise(data, filename)
    assert "16:9" in str(refused.value)  # every refusal says what is expected


# --- descriptions, names, versions --------------------------------------------------------------


@pytest.mark.parametrize(
    "attack",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[клик](javascript:alert(1))",
        "[клик](data:text/html;base64,PHNjcmlwdD4=)",
        '<a href="https://x" onclick="alert(1)">x</a>',
        "<iframe src=//evil></iframe>",
        "![x](https://evil/x.png)",
    ],
)
def test_script_in_descriptions_never_reaches_the_page(attack: str) -> None:
    html = render_markdown(attack)
    for tag, attrs in elements(html):
        assert tag not in {"script", "img", "iframe", "svg", "style"}, html
        assert not any(name.startswith("on") for name in attrs), html
        assert (attrs.get("href") or "https:").startswith(("https:", "http:", "mailto:")), html


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every element a browser would build from ``html``."""
    found: list[tuple[str, dict[str, str | None]]] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, dict(attrs)))

    Collector().feed(html)
    return found


def test_markdown_formatting_survives() -> None:
    html = render_markdown("# Заголовок\n\n**жирный** и [ссылка](https://example.com)\n\n- пункт")
    assert "<h1>Заголовок</h1>" in html and "<strong>жирный</strong>" in html and "<li>пункт</li>" in html
    assert 'href="https://example.com"' in html and "noopener" in html


@pytest.mark.parametrize(
    ("name", "similar"),
    [
        ("Payments", "payments"),
        ("pay_ments", "payments"),
        ("paymnets", "payments"),
        ("payment", "payments"),
        ("paymentss", "payments"),
    ],
)
def test_names_imitating_others_are_caught(name: str, similar: str) -> None:
    assert confusable_with(name.lower() if name != "Payments" else name, ["payments", "weather"]) == similar


def test_module_names_must_be_identifiers() -> None:
    assert name_problem("my_module") is None
    for bad in ("My-Module", "1module", "a", "class", "модуль", "x" * 41, "../etc"):
        assert name_problem(bad), bad
    assert confusable_with("top_referrers", ["payments", "weather"]) is None


def test_versions_are_semantic_and_strictly_growing() -> None:
    assert parse_version("1.2.3-rc.1") < parse_version("1.2.3")
    for bad in ("1.0", "v1.0.0", "1.0.0.0", "01.0.0", "1.0.0-foo", "latest"):
        with pytest.raises(VersionError):
            parse_version(bad)
    check_newer("1.1.0", ["1.0.0", "1.0.1"])
    for same_or_older in ("1.0.0", "0.9.9", "1.0.0-rc.1"):
        with pytest.raises(VersionError, match="не больше"):
            check_newer(same_or_older, ["1.0.0"])


# --- the sandboxed start ------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.timeout(150)
async def test_a_module_that_cannot_start_in_the_sandbox_is_refused() -> None:
    """Passes the static checks but reads /etc/shadow at import: the sandbox stops it, refused; a good one then runs."""
    router = module_files("weather", "1.0.0")["router.py"] + "\nwith open('/etc/shadow') as f:\n    f.read()\n"
    archive = zip_archive({**GOOD, "router.py": router}, "modules/weather/")
    async with UploadChecker(LIMITS, start_check=True) as checker:
        report = await checker.check(archive, "weather")
        good = await checker.check(zip_archive(GOOD, "modules/weather/"), "weather")  # the same warm process, next upload
    steps = {step.name: step for step in report.steps}
    assert steps["archive"].ok and steps["layout"].ok and steps["checker"].ok
    assert not report.ok
    assert "не дошёл до состояния running" in steps["start"].errors[0], steps["start"].errors
    assert "Permission" in steps["start"].errors[0] or "shadow" in steps["start"].errors[0], steps["start"].errors
    assert good.ok, good.errors
    assert any("running" in note for step in good.steps for note in step.notes)
