"""The server's own charset tables, against the Python codecs the binlog decoder starts from.

The snapshot reads text the server has converted to utf8mb4; the binlog carries a column's
raw bytes, which hub decodes (`connectors.source.mysql.charsets`). Python's codecs differ from
MySQL's and MariaDB's tables in places: sjis 0x815F is U+005C there and U+FF3C in Python,
eucjpms is not euc_jp, cp866 0xFC is "ⁿ" there. This module asks a server for every code of
each charset (`server_table`) and compares (`differences`); run as a script against a
throwaway MariaDB it writes ``connectors/source/mysql/_charset_fixes.py``:

    python -m tests.connectors.mysql.charset_oracle

and the test (`test_charsets.py`) checks a sample of every charset against the server each run.
"""

from __future__ import annotations

import codecs
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SINGLE = (
    "latin1", "latin2", "latin5", "latin7", "greek", "hebrew", "cp1250", "cp1251", "cp1256",
    "cp1257", "cp850", "cp852", "cp866", "koi8r", "koi8u", "macroman", "macce", "tis620",
    "ascii",
)  # fmt: skip
MULTI = ("sjis", "cp932", "ujis", "eucjpms", "gbk", "gb2312", "big5", "euckr")

# the Python codec each charset starts from (what hub decoded with before the fixes)
BASE = {
    "latin1": "hub-mysql-latin1-base", "latin2": "iso8859_2", "latin5": "iso8859_9",
    "latin7": "iso8859_13", "greek": "iso8859_7", "hebrew": "iso8859_8", "cp1250": "cp1250",
    "cp1251": "cp1251", "cp1256": "cp1256", "cp1257": "cp1257", "cp850": "cp850",
    "cp852": "cp852", "cp866": "cp866", "koi8r": "koi8_r", "koi8u": "koi8_u",
    "macroman": "mac_roman", "macce": "mac_latin2", "tis620": "tis_620", "ascii": "ascii",
    "sjis": "shift_jis", "cp932": "cp932", "ujis": "euc_jp", "eucjpms": "cp932-as-euc",
    "gbk": "gbk", "gb2312": "gb2312", "big5": "big5", "euckr": "cp949",
}  # fmt: skip


def codes(cs: str, step: int = 1) -> Iterator[bytes]:
    """Every code of ``cs`` a character may have (every ``step``-th of the multi-byte ones)."""
    if cs in SINGLE:
        yield from (bytes([b]) for b in range(256))
        return
    # (ASCII too: Python's euc_jp reads 0x7E and 0x8FA2B7 both as "~", and a swap of the
    # latter's had turned every tilde into "～")
    yield from (bytes([b]) for b in range(0x80))
    n = 0
    if cs in ("ujis", "eucjpms"):
        for b in range(0xA1, 0xE0):
            yield bytes([0x8E, b])
        pairs = [(a, b) for a in range(0xA1, 0xFF) for b in range(0xA1, 0xFF)]
        for a, b in pairs:
            n += 1
            if n % step == 0:
                yield bytes([a, b])
        for a, b in pairs:
            n += 1
            if n % step == 0:
                yield bytes([0x8F, a, b])
        return
    if cs in ("sjis", "cp932"):
        yield from (bytes([b]) for b in range(0xA1, 0xE0))
    for a in range(0x81, 0xFF):
        for b in range(0x40, 0xFF):
            n += 1
            if n % step == 0:
                yield bytes([a, b])


def server_table(con: Any, cs: str, which: list[bytes]) -> dict[bytes, str]:
    """What the server reads each code of ``which`` as (one character); "?" where its table
    has none; codes it does not read as one character are left out."""
    out: dict[bytes, str] = {}
    with con.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        for i in range(0, len(which), 800):
            part = which[i : i + 800]
            cur.execute(" UNION ALL ".join(
                f"SELECT '{b.hex()}', CHAR_LENGTH(CONVERT(UNHEX('{b.hex()}') USING {cs})), "
                f"HEX(CONVERT(CONVERT(UNHEX('{b.hex()}') USING {cs}) USING utf8mb4))"
                for b in part
            ))  # fmt: skip
            for code, length, text in cur.fetchall():
                if int(length) == 1:
                    out[bytes.fromhex(code)] = bytes.fromhex(text).decode()
    return out


def _base_decode(cs: str, code: bytes) -> str:
    base = BASE[cs]
    if base == "hub-mysql-latin1-base":
        from connectors.source.mysql.charsets import _LATIN1

        return codecs.charmap_decode(code, "strict", _LATIN1)[0]
    if base == "cp932-as-euc":  # (no Python codec for eucjpms: EUC-JP's, fixed below)
        return code.decode("euc_jp")
    return code.decode(base)


def differences(cs: str, server: dict[bytes, str]) -> tuple[dict[str, str], dict[bytes, str]]:
    """(the characters Python's codec gives that the server reads otherwise: Python's ->
    the server's, "?" where the server has none; the codes Python cannot read -> the
    server's character)."""
    swap: dict[str, set[str]] = {}
    extra: dict[bytes, str] = {}
    agreed: set[str] = set()
    for code, want in sorted(server.items()):
        try:
            got = _base_decode(cs, code)
        except UnicodeDecodeError:
            if not undefined(code, want):
                extra[code] = want
            continue
        if got == want:
            agreed.add(got)
        elif len(got) != 1:
            raise AssertionError(f"{cs} {code.hex()}: Python reads {got!r}, the server {want!r}")
        else:
            swap.setdefault(got, set()).add(want)
    # a character Python gives for several codes cannot be swapped: one of them is read
    # alike by the server (Python's big5 reads A1FE and A241 as one character, euc_jp 0x7E and
    # 0x8FA2B7 as "~"), or they are read as different characters there; the other codes are
    # left as Python reads them (`ambiguous`)
    return {k: next(iter(v)) for k, v in swap.items() if k not in agreed and len(v) == 1}, extra


def ambiguous(cs: str, server: dict[bytes, str]) -> set[bytes]:
    """The codes `differences` cannot fix (see there): read otherwise by Python, through a
    character it also gives for another code."""
    swap, _ = differences(cs, server)
    out = set()
    for code, want in server.items():
        try:
            got = _base_decode(cs, code)
        except UnicodeDecodeError:
            continue
        if got != want and got not in swap and not undefined(code, want):
            out.add(code)
    return out


def undefined(code: bytes, read: str) -> bool:
    """Whether the server's table has no character for ``code`` (it reads "?" or U+FFFD)."""
    return (read == "?" and code != b"?") or read == "\ufffd"


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    import pymysql

    from hub.demo.mariadb import start_server, stop_server

    base = Path(tempfile.mkdtemp(prefix="hub-charsets-"))
    server = start_server(base)
    try:
        con = pymysql.connect(unix_socket=str(server.socket), user="root", autocommit=True)
        version = con.get_server_info()
        lines = []
        for cs in SINGLE + MULTI:
            swap, extra = differences(cs, server_table(con, cs, list(codes(cs))))
            if swap or extra or BASE[cs] == "cp932-as-euc":
                pairs = "".join(k + v for k, v in swap.items())
                coded = ";".join(f"{k.hex()}:{v}" for k, v in extra.items())
                assert not any(";" in v or ":" in v for v in extra.values())
                lines.append(f"    {cs!r}: ({pairs!r}, {coded!r}),")
            print(f"{cs}: {len(swap)} read otherwise, {len(extra)} Python cannot read",
                  file=sys.stderr)  # fmt: skip
        target = Path(__file__).resolve().parents[3] / "connectors/source/mysql/_charset_fixes.py"
        target.write_text(
            '"""Where MySQL\'s and MariaDB\'s charset tables differ from the Python codecs the\n'
            "binlog decoder starts from (`charsets`), made by\n"
            "tests/connectors/mysql/charset_oracle.py from MariaDB "
            f"{version.split('-', 1)[-1]}.\n\n"
            "Per charset: the characters Python's codec gives that the server reads otherwise,\n"
            "as pairs (Python's, the server's; \"?\" where the server has none), and the codes\n"
            'Python cannot read, as "hex:character" separated by ";"."""\n\n'
            "# ruff: noqa: E501\n# fmt: off\nFIXES = {\n" + "\n".join(lines) + "\n}\n"
        )
        print(f"wrote {target}", file=sys.stderr)
    finally:
        stop_server(server)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
