"""The licence tokens the operator gave the bot (``<DATA_DIR>/catalog-client/licences.json``).

A token is the catalog's signed statement "user U may run module M (on bot B, until T)"; the
bot checks it offline with ``catalog.verify.verify_licence`` against ``ADMIN_IDS``, its own id
and the revocation list. Admins paste tokens from their catalog cabinet into the bot (or
``solobot catalog licence TOKEN``); a token that would not let this bot run the module is refused
when added, so the wallet only holds tokens that were valid here.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from catalog.verify import Licence, VerificationError, licence_claims, verify_licence

from .errors import InstallRefused
from .json_file import read_json, write_json


class LicenceWallet:
    def __init__(self, path: Path, key: Ed25519PublicKey, admin_ids: Iterable[int], bot_id: int | None) -> None:
        self.path = path
        self.key = key
        self.admin_ids = tuple(admin_ids)
        self.bot_id = bot_id
        self._data = read_json(path, {"tokens": []})

    @property
    def tokens(self) -> list[str]:
        return [t for t in self._data.get("tokens", []) if isinstance(t, str)]

    def add(self, token: str, revoked: Iterable[str] = ()) -> Licence:
        """Keep ``token`` if it lets this bot run its module; InstallRefused (why) otherwise."""
        token = token.strip()
        try:
            claims = licence_claims(token)
            licence = verify_licence(
                token, self.key, module=claims.module, user_ids=self.admin_ids, bot_id=self.bot_id, revoked=revoked
            )
        except VerificationError as exc:
            raise InstallRefused(f"Лицензия не принята: {exc}") from None
        tokens = [t for t in self.tokens if t != token]
        self._data["tokens"] = [*tokens, token]
        write_json(self.path, self._data)
        return licence

    def held(self, module: str) -> list[Licence]:
        """Claims of the tokens for ``module`` (unverified: for display)."""
        found = []
        for token in self.tokens:
            try:
                claims = licence_claims(token)
            except VerificationError:
                continue
            if claims.module == module:
                found.append(claims)
        return found

    def valid(self, module: str, revoked: Iterable[str] = (), now: float | None = None) -> list[Licence]:
        """Every held licence that lets this bot run ``module`` now."""
        revoked = frozenset(revoked)
        found = []
        for token in self.tokens:
            try:
                if licence_claims(token).module == module:
                    found.append(
                        verify_licence(
                            token, self.key, module=module, user_ids=self.admin_ids, bot_id=self.bot_id, revoked=revoked, now=now
                        )
                    )
            except VerificationError:
                continue
        return found

    def licence_for(self, module: str, revoked: Iterable[str] = (), now: float | None = None) -> Licence:
        """A licence that lets this bot run ``module`` now; InstallRefused naming every token's problem otherwise."""
        revoked = frozenset(revoked)
        problems = []
        for token in self.tokens:
            try:
                if licence_claims(token).module != module:
                    continue
                return verify_licence(
                    token, self.key, module=module, user_ids=self.admin_ids, bot_id=self.bot_id, revoked=revoked, now=now
                )
            except VerificationError as exc:
                problems.append(str(exc))
        if problems:
            raise InstallRefused(f"{module}: нет действующей лицензии — " + "; ".join(problems))
        raise InstallRefused(
            f"{module}: модуль платный, а лицензии нет. Купите её в каталоге для своего Telegram ID "
            f"(один из ADMIN_IDS) и добавьте токен: «🔑 Добавить лицензию» или `solobot catalog licence ТОКЕН`."
        )
