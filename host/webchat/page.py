"""The one static page, with a Content-Security-Policy pinned to its own inline script and style.

Bot messages reach the page as sanitized HTML (``render.py``); the policy is the second line of
defence: should anything slip through, no script but the page's own (by hash) runs, and nothing
loads from anywhere but this server. Hashing at start-up keeps the page a plain static file.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

PAGE = Path(__file__).with_name("static") / "index.html"


def _hashes(html: str, tag: str) -> str:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)


@dataclass(frozen=True)
class Page:
    body: bytes
    csp: str

    @classmethod
    def load(cls, path: Path = PAGE) -> Page:
        html = path.read_text(encoding="utf-8")
        csp = "; ".join(
            [
                "default-src 'none'",
                f"script-src {_hashes(html, 'script')}",
                f"style-src {_hashes(html, 'style')}",
                "img-src 'self' data:",
                "connect-src 'self'",
                "base-uri 'none'",
                "form-action 'none'",
                "frame-ancestors 'none'",
            ]
        )
        return cls(html.encode("utf-8"), csp)
