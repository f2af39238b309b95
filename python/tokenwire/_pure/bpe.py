"""Pure-Python twin of the native token counter: OpenAI's ``o200k_base`` BPE.

Same results as ``tokenwire._native.count_tokens`` / ``encode`` (and as tiktoken's
``encode_ordinary``) on every input, from the same ranks file
(``tokenwire/data/o200k_base.tiktoken``), with no third-party dependency.

How it stays faithful:

- **Pre-tokenizer.** o200k's pattern uses Unicode property classes (``\\p{Lu}``,
  ``\\p{M}``, ``\\s`` …) that Python's ``re`` lacks, and ``unicodedata`` follows the
  interpreter's Unicode version (14.0 on 3.11) rather than the native regex engine's.
  So the classes are read from ``tokenwire/data/pretokenizer_classes.txt``, generated
  from the native engine's own Unicode tables (a cargo test checks it is current),
  and the pattern is rebuilt from them with explicit character ranges; the
  case-insensitive contraction suffixes use the engine's case-fold sets (an
  apostrophe and U+017F, the long s, is ``'s``). Python's ``re`` backtracks like the
  native engine and tries alternatives in the same order, so the pieces are the same.
  :func:`build_pattern` is that transcription; what runs is :func:`build_compact`,
  the same pattern over a small alphabet (ASCII plus one stand-in per class) that
  non-ASCII text is first mapped into, several times faster (see its docstring).
- **Merges.** Each piece is byte-pair encoded by repeatedly merging the adjacent pair
  with the lowest rank, leftmost first, as tiktoken does, with a heap and lazy
  invalidation: O(n log n), so a megabyte of one letter is not quadratic (and in
  Python the heap beats tiktoken's list rescan even on two-byte pieces).
- **Special tokens** (``"<|endoftext|>"``) are ordinary text; lone surrogates are
  repaired as tiktoken does (a UTF-16 round trip: a well-ordered pair joins, a lone
  one becomes U+FFFD).

Nothing is read or compiled at import: the ranks and the pattern load on the first
call (~0.2 s). Pieces already seen are cached (bounded), which is what makes
ordinary prose fast.
"""

from __future__ import annotations

import bisect
import heapq
import re
import threading
from binascii import Error as _B64Error
from binascii import a2b_base64, b2a_base64
from pathlib import Path
from typing import Optional

__all__ = ["ENCODINGS", "count_tokens", "encode"]

O200K_BASE = "o200k_base"
ENCODINGS: tuple[str, ...] = (O200K_BASE,)
"""The encodings ``count_tokens`` and ``encode`` accept."""

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
"""Package data: the ranks files and the pre-tokenizer class table."""

_RANKS_FILE = {O200K_BASE: "o200k_base.tiktoken"}
_RANKS_LEN = {O200K_BASE: 199_998}
_CLASSES_FILE = "pretokenizer_classes.txt"

# The piece cache is cleared when it grows past this many entries.
_CACHE_LIMIT = 1 << 16
_NO_RANK = 1 << 62

_SURROGATE = re.compile("[\ud800-\udfff]")


def _unknown(encoding: str) -> ValueError:
    return ValueError(f'unknown encoding "{encoding}"; expected one of: {", ".join(ENCODINGS)}')


def load_ranks(encoding: str = O200K_BASE, path: Optional[Path] = None) -> dict[bytes, int]:
    """Parse and validate ``encoding``'s ``.tiktoken`` ranks file (``base64 rank`` lines).

    The checks are the native loader's: every line well formed, ranks unique and in
    range, the expected number of tokens, every single byte present.
    """
    name = _RANKS_FILE.get(encoding)
    if name is None:
        raise _unknown(encoding)
    path = DATA_DIR / name if path is None else path
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OSError(f"cannot read the {encoding} ranks file {path}: {exc}") from exc
    expected = _RANKS_LEN[encoding]
    ranks: dict[bytes, int] = {}
    seen = bytearray(expected)

    def bad(lineno: int, what: str) -> ValueError:
        return ValueError(f"invalid ranks file {name} (line {lineno}): {what}")

    for lineno, raw_line in enumerate(data.split(b"\n"), 1):
        line = raw_line.rstrip(b"\r")
        if not line:
            continue
        token_b64, sep, rank_text = line.partition(b" ")
        if not sep:
            raise bad(lineno, "no space")
        try:
            token = a2b_base64(token_b64)
        except _B64Error:
            raise bad(lineno, "token is not base64") from None
        # a2b_base64 skips characters outside the alphabet; the round trip makes the
        # check as strict as the native decoder's.
        if b2a_base64(token, newline=False) != token_b64:
            raise bad(lineno, "token is not base64")
        if not rank_text.isdigit():
            raise bad(lineno, "rank is not an integer")
        rank = int(rank_text)
        if rank >= expected:
            raise bad(lineno, "rank out of range")
        if seen[rank]:
            raise bad(lineno, "duplicate rank")
        seen[rank] = 1
        if not token or token in ranks:
            raise bad(lineno, "empty or duplicate token")
        ranks[token] = rank
    if len(ranks) != expected:
        raise ValueError(f"invalid ranks file {name}: {len(ranks)} tokens, expected {expected}")
    if any(bytes((b,)) not in ranks for b in range(256)):
        raise ValueError(f"invalid ranks file {name}: a single-byte token is missing")
    return ranks


_Rows = list[tuple[int, int, str]]
_Folds = dict[str, list[int]]


def _parse_table(table: Optional[str]) -> tuple[_Rows, _Folds]:
    """The class table's ``(start, end, cell)`` rows and ``fold`` sets."""
    if table is None:
        table = (DATA_DIR / _CLASSES_FILE).read_text(encoding="ascii")
    rows: _Rows = []
    folds: _Folds = {}
    for line in table.splitlines():
        fields = line.split()
        if not fields or line.startswith("#"):
            continue
        if fields[0] == "fold":
            folds[fields[1]] = [int(cp, 16) for cp in fields[2:]]
        else:
            rows.append((int(fields[0], 16), int(fields[1], 16), fields[2]))
    rows.sort()
    return rows, folds


def _class(rows: _Rows, cells: str) -> str:
    """The union of ``cells``' ranges as ``re`` class content (adjacent ranges merged)."""
    merged: list[list[int]] = []
    for start, end, cell in rows:
        if cell not in cells:
            continue
        if merged and start == merged[-1][1] + 1:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in merged)


def _pattern(rows: _Rows, folds: _Folds) -> re.Pattern[str]:
    letters = _class(rows, "ulo")  # \p{L}
    upper = _class(rows, "uom")  # [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
    lower = _class(rows, "lom")  # [\p{Ll}\p{Lm}\p{Lo}\p{M}]
    digits = _class(rows, "n")  # \p{N}
    space = _class(rows, "s")  # \s

    def ci(word: str) -> str:
        return "".join("[" + "".join(f"\\U{cp:08x}" for cp in folds[c]) + "]" for c in word)

    # (?i:'s|'t|'re|'ve|'m|'ll|'d)
    contraction = "'(?:" + "|".join(ci(w) for w in ("s", "t", "re", "ve", "m", "ll", "d")) + ")"
    branches = [
        f"[^\\r\\n{letters}{digits}]?[{upper}]*[{lower}]+(?:{contraction})?",
        f"[^\\r\\n{letters}{digits}]?[{upper}]+[{lower}]*(?:{contraction})?",
        f"[{digits}]{{1,3}}",
        f" ?[^{space}{letters}{digits}]+[\\r\\n/]*",
        f"[{space}]*[\\r\\n]+",
        f"[{space}]+(?![^{space}])",
        f"[{space}]+",
    ]
    return re.compile("|".join(branches))


def build_pattern(table: Optional[str] = None) -> re.Pattern[str]:
    """o200k_base's pre-tokenizer as a Python ``re`` pattern over all of Unicode.

    A direct transcription of the published pattern with the class table's ranges;
    the reference for :func:`build_compact`, which is what runs.
    """
    return _pattern(*_parse_table(table))


# What each cell's non-ASCII characters become in the compact alphabet: a character of
# the same cell, not otherwise special to the pattern.
_REPRESENTATIVE = {"u": "A", "l": "a", "o": "\u00aa", "m": "\u0300", "n": "0", "s": "\t", "-": "!"}


def build_compact(table: Optional[str] = None) -> tuple[re.Pattern[str], str]:
    """The pre-tokenizer over a small alphabet, and the map into that alphabet.

    Python's ``re`` keeps the astral part of a big class as a list of ranges scanned
    one by one, which makes the full pattern slow (~0.5 µs a character). But the
    pattern only asks of a character which cell it is in (u, l, o, m, n, s or none),
    whether it is ``\\r``, ``\\n``, a space, ``/`` or ``'``, and whether it is in a
    contraction fold set. ASCII characters stand for themselves; every other character
    is mapped (``str.translate``) to a representative that answers all those
    questions the same way: its cell's representative, or for a non-ASCII fold member
    (U+017F, the long s) an ASCII member of the same fold set and cell (``s``). The compact pattern
    then splits the mapped text at the same offsets as the full pattern splits the
    original, and ASCII text needs no mapping at all.

    Returns ``(pattern, class_map)`` where ``class_map[cp]`` is the representative of
    code point ``cp`` (a 0x110000-character string).
    """
    rows, folds = _parse_table(table)

    starts = [start for start, _, _ in rows]

    def cell_of(cp: int) -> str:
        i = bisect.bisect_right(starts, cp) - 1
        return rows[i][2] if i >= 0 and cp <= rows[i][1] else "-"

    for cell, rep in _REPRESENTATIVE.items():
        if cell_of(ord(rep)) != cell:  # pragma: no cover - guards a regenerated table
            raise ValueError(f"representative {rep!r} is not in cell {cell!r}")

    pieces: list[str] = []
    position = 0

    def fill(start: int, end: int, cell: str) -> None:
        ascii_end = min(end, 0x7F)
        if start <= ascii_end:
            pieces.append("".join(map(chr, range(start, ascii_end + 1))))
            start = ascii_end + 1
        if start <= end:
            pieces.append(_REPRESENTATIVE[cell] * (end - start + 1))

    for start, end, cell in rows:
        if start > position:
            fill(position, start - 1, "-")
        fill(start, end, cell)
        position = end + 1
    fill(position, 0x10FFFF, "-")
    class_map = "".join(pieces)
    for members in folds.values():
        for cp in members:
            if cp > 0x7F:
                cell = cell_of(cp)
                ascii_twin = next((m for m in members if m <= 0x7F and cell_of(m) == cell), None)
                if ascii_twin is None:  # pragma: no cover - guards a regenerated table
                    raise ValueError(f"no ASCII stand-in for fold member U+{cp:04X}")
                class_map = class_map[:cp] + chr(ascii_twin) + class_map[cp + 1 :]

    alphabet = set(range(0x80)) | {ord(rep) for rep in _REPRESENTATIVE.values()}
    compact_rows = [(cp, cp, cell_of(cp)) for cp in sorted(alphabet) if cell_of(cp) != "-"]
    return _pattern(compact_rows, folds), class_map


def _merge(piece: bytes, ranks: dict[bytes, int]) -> list[int]:
    """BPE of one piece: a heap of candidate merges, stale entries skipped.

    Parts are linked by start offset (``end[i]`` ends the part starting at ``i``,
    ``prev[i]`` starts the one before it); ``pair[i]`` is the rank of merging the part
    at ``i`` with its successor. The pair starting at a given offset only ever grows,
    so its rank never takes an earlier value again and ``pair[i] != rank`` marks a
    heap entry as stale.
    """
    get = ranks.get
    n = len(piece)
    end = list(range(1, n + 1))
    prev = list(range(-1, n - 1))
    pair = [_NO_RANK] * n
    heap: list[tuple[int, int]] = []
    for i in range(n - 1):
        rank = get(piece[i : i + 2])
        if rank is not None:
            pair[i] = rank
            heap.append((rank, i))
    heapq.heapify(heap)
    while heap:
        rank, i = heapq.heappop(heap)  # lowest rank, then leftmost
        if pair[i] != rank:
            continue
        j = end[i]
        k = end[j]
        end[i] = k
        pair[j] = _NO_RANK
        if k < n:
            prev[k] = i
            new = get(piece[i : end[k]])
            pair[i] = _NO_RANK if new is None else new
            if new is not None:
                heapq.heappush(heap, (new, i))
        else:
            pair[i] = _NO_RANK
        if i > 0:
            p = prev[i]
            new = get(piece[p:k])
            pair[p] = _NO_RANK if new is None else new
            if new is not None:
                heapq.heappush(heap, (new, p))
    out: list[int] = []
    i = 0
    while i < n:
        out.append(ranks[piece[i : end[i]]])
        i = end[i]
    return out


class _Encoding:
    """A loaded encoding: ranks, pre-tokenizer, and a cache of encoded pieces."""

    __slots__ = ("_cache", "_class_map", "_findall", "_ranks")

    def __init__(self, ranks: dict[bytes, int], pattern: re.Pattern[str], class_map: str) -> None:
        self._ranks = ranks
        self._findall = pattern.findall
        self._class_map = class_map
        self._cache: dict[str, tuple[int, ...]] = {}

    def split(self, text: str) -> list[str]:
        """The pre-tokenizer's pieces of ``text`` (surrogate-free)."""
        if text.isascii():
            return self._findall(text)
        pieces: list[str] = []
        start = 0
        # The compact pattern matches every character, so the pieces tile the text.
        for mapped in self._findall(text.translate(self._class_map)):
            end = start + len(mapped)
            pieces.append(text[start:end])
            start = end
        return pieces

    def _piece(self, piece: str) -> tuple[int, ...]:
        raw = piece.encode("utf-8")
        rank = self._ranks.get(raw)
        ids = (rank,) if rank is not None else tuple(_merge(raw, self._ranks))
        cache = self._cache
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[piece] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        out: list[int] = []
        cache = self._cache
        for piece in self.split(_repair(text)):
            ids = cache.get(piece)
            out.extend(self._piece(piece) if ids is None else ids)
        return out

    def count(self, text: str) -> int:
        total = 0
        cache = self._cache
        for piece in self.split(_repair(text)):
            ids = cache.get(piece)
            total += len(self._piece(piece) if ids is None else ids)
        return total


def _repair(text: str) -> str:
    """``text`` with lone surrogates repaired as tiktoken repairs them."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


_loaded: dict[str, _Encoding] = {}
_lock = threading.Lock()


def _encoding(encoding: str) -> _Encoding:
    enc = _loaded.get(encoding)
    if enc is not None:
        return enc
    if encoding not in _RANKS_FILE:
        raise _unknown(encoding)
    with _lock:
        enc = _loaded.get(encoding)
        if enc is None:
            enc = _Encoding(load_ranks(encoding), *build_compact())
            _loaded[encoding] = enc
    return enc


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    return text


def count_tokens(text: str, encoding: str = O200K_BASE) -> int:
    """The number of tokens in ``text`` under ``encoding`` (special-token strings such as
    ``"<|endoftext|>"`` count as plain text)."""
    return _encoding(encoding).count(_check_text(text))


def encode(text: str, encoding: str = O200K_BASE) -> list[int]:
    """The token ids of ``text`` under ``encoding`` (tiktoken's ``encode_ordinary``)."""
    return _encoding(encoding).encode(_check_text(text))
