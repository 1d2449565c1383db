"""Reversible redaction: a :class:`Vault` of placeholders for redacted values.

``guard.wrap(fn, vault=Vault())`` replaces every span the INPUT policy redacts with a
numbered placeholder (``[email_1]``, ``[phone_2]``) instead of the rule's replacement, so
the model never sees the value; the answer's placeholders are put back (after the output
policy ran on the placeholder text) before it reaches the caller, also in streams, where a
placeholder split over chunks is held back until it is whole.

Numbering is stable within a vault: the same ``(kind, value)`` gets the same placeholder
every time, two different values of one kind get different numbers. One vault per
conversation (per user): a vault shared between users would hand one user's value to
another who sends its placeholder. Values live only in the vault (in memory, or in the
``store`` mapping the caller passes); they are never written to a decision-log record:
the records carry the checked texts' redactions (``"replacement": "[email]"``) and the
placeholder text the output rules saw, never the restored answer.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Iterator, MutableMapping

__all__ = ["Vault", "StreamRestorer"]

_KIND_SAFE = re.compile(r"[^A-Za-z0-9]+")
# a placeholder's shape: "[" kind "_" number "]"; only those this vault issued are restored
_PLACEHOLDER = re.compile(r"\[[A-Za-z0-9_]{1,64}_[0-9]{1,9}\]")


def _kind_label(kind: str) -> str:
    label = _KIND_SAFE.sub("_", kind.rsplit(".", 1)[-1]).strip("_").lower()
    return label[:48] or "value"


class Vault:
    """Placeholders for redacted values, and the values back for placeholders (thread-safe).

    ``store``: a mutable mapping ``placeholder -> value`` the caller owns (for a
    conversation kept across processes); by default a new dict in memory. Placeholders
    already in it are reused and their numbering continued.
    """

    def __init__(self, store: MutableMapping[str, str] | None = None):
        if store is not None and not isinstance(store, MutableMapping):
            raise TypeError(f"Vault(store=) must be a mutable mapping, got {type(store).__name__}")
        self._lock = threading.RLock()
        self._values: MutableMapping[str, str] = store if store is not None else {}
        self._by_value: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}
        self._longest = 0
        for placeholder, value in list(self._values.items()):
            m = re.fullmatch(r"\[([A-Za-z0-9_]+)_([0-9]+)\]", placeholder)
            if m is None or not isinstance(value, str):
                raise ValueError(f"Vault(store=): {placeholder!r} is not a vault placeholder with a str value")
            label, n = m.group(1), int(m.group(2))
            self._by_value[(label, value)] = placeholder
            self._counts[label] = max(self._counts.get(label, 0), n)
            self._longest = max(self._longest, len(placeholder))

    def placeholder_for(self, kind: str, value: str) -> str:
        """The placeholder for ``value`` of ``kind`` (``"[email_1]"``); the same one every time."""
        if not isinstance(kind, str) or not isinstance(value, str):
            raise TypeError("Vault.placeholder_for(kind, value) takes two str")
        label = _kind_label(kind)
        with self._lock:
            found = self._by_value.get((label, value))
            if found is not None:
                return found
            n = self._counts.get(label, 0) + 1
            self._counts[label] = n
            placeholder = f"[{label}_{n}]"
            self._values[placeholder] = value
            self._by_value[(label, value)] = placeholder
            self._longest = max(self._longest, len(placeholder))
            return placeholder

    def value_of(self, placeholder: str) -> str | None:
        """The value behind ``placeholder``, or None when this vault did not issue it."""
        with self._lock:
            return self._values.get(placeholder)

    def restore(self, text: str) -> str:
        """``text`` with every placeholder this vault issued replaced by its value.

        Anything else that looks like a placeholder (``[email_9]`` never issued) is left as is.
        """
        if "[" not in text:
            return text
        with self._lock:
            values = dict(self._values)
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(0), m.group(0)), text)

    def redact(self, text: str, redactions) -> str:
        """``text`` with each (sorted, non-overlapping) redaction's span replaced by its placeholder.

        ``redactions`` are :class:`policylang.decision.Redaction` (``start``, ``end``, ``kind``)
        with offsets into ``text``, as a decision carries them.
        """
        parts, pos = [], 0
        for r in redactions:
            parts.append(text[pos:r.start])
            parts.append(self.placeholder_for(r.kind, text[r.start:r.end]))
            pos = r.end
        parts.append(text[pos:])
        return "".join(parts)

    @property
    def longest(self) -> int:
        """The length of the longest placeholder issued (what a stream may hold back)."""
        return self._longest

    def restorer(self) -> "StreamRestorer":
        return StreamRestorer(self)

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    def __repr__(self) -> str:  # never the values
        return f"<Vault {len(self)} placeholders>"

    def __reduce__(self):
        raise TypeError("a Vault holds redacted values and is not pickled; pass store= to keep them")


class StreamRestorer:
    """Restores placeholders in a stream of chunks; a placeholder split over chunks is held
    back (at most :attr:`Vault.longest` characters) until it is whole, then restored."""

    def __init__(self, vault: Vault):
        self.vault = vault
        self._held = ""

    def feed(self, chunk: str) -> str:
        text = self._held + chunk
        cut = self._hold_from(text)
        self._held = text[cut:]
        return self.vault.restore(text[:cut])

    def finish(self) -> str:
        text, self._held = self._held, ""
        return self.vault.restore(text)

    def _hold_from(self, text: str) -> int:
        """Where a possible placeholder prefix at the end of ``text`` starts (len(text): none)."""
        i = text.rfind("[")
        if i < 0 or "]" in text[i:]:
            return len(text)
        tail = text[i:]
        if len(tail) >= max(self.vault.longest, 1):
            return len(text)
        return i if _prefix_of_placeholder(tail) else len(text)


def _prefix_of_placeholder(tail: str) -> bool:
    return re.fullmatch(r"\[[A-Za-z0-9_]*", tail) is not None


class VaultStream:
    """A guarded stream whose released chunks have the vault's placeholders restored.

    ``decision``, ``stats``, ``error``, ``close()`` and the rest are the guarded stream's.
    """

    def __init__(self, inner, vault: Vault):
        self._inner = inner
        self._restorer = StreamRestorer(vault)
        self._gen = self._run()

    def _run(self) -> Iterator[str]:
        for chunk in self._inner:
            out = self._restorer.feed(chunk)
            if out:
                yield out
        tail = self._restorer.finish()
        if tail:
            yield tail

    def __iter__(self):
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()
        self._inner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class AsyncVaultStream:
    """The async :class:`VaultStream`."""

    def __init__(self, inner, vault: Vault):
        self._inner = inner
        self._restorer = StreamRestorer(vault)
        self._agen = self._run()

    async def _run(self):
        async for chunk in self._inner:
            out = self._restorer.feed(chunk)
            if out:
                yield out
        tail = self._restorer.finish()
        if tail:
            yield tail

    def __aiter__(self):
        return self

    async def __anext__(self) -> str:
        return await self._agen.__anext__()

    async def aclose(self) -> None:
        await self._agen.aclose()
        await self._inner.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
