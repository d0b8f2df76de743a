"""MySQL/MariaDB character sets as Python codecs, for the binlog's raw column bytes (the
snapshot's text protocol is converted to utf8mb4 by the server).

A TABLE_MAP names a column's charset by a collation id. The ids come from the server
(`learn`: information_schema, MariaDB's uca1400 collations included), falling back to
PyMySQL's list, which lacks most ucs2/utf16/utf32 and MariaDB's nopad and uca1400 ids.
A charset without a codec here is refused by name (`UnknownCharsetError`): decoding it as
UTF-8 gave other characters silently (latin2 ``C3 A9`` read as ``é``). MySQL's latin1 is
cp1252 with its five undefined bytes mapped to the same code points (Python's cp1252
refuses them).
"""

from __future__ import annotations

import codecs
import contextlib
import functools
from typing import Any

from hub.errors import ConfigError

BINARY = 63

# MySQL's charset names -> Python codecs
_CODECS = {
    "utf8mb4": "utf-8", "utf8mb3": "utf-8", "utf8": "utf-8", "ascii": "ascii",
    "latin1": "hub-mysql-latin1", "latin2": "iso8859_2", "latin5": "iso8859_9",
    "latin7": "iso8859_13", "greek": "iso8859_7", "hebrew": "iso8859_8",
    "cp1250": "cp1250", "cp1251": "cp1251", "cp1256": "cp1256", "cp1257": "cp1257",
    "cp850": "cp850", "cp852": "cp852", "cp866": "cp866", "koi8r": "koi8_r", "koi8u": "koi8_u",
    "macroman": "mac_roman", "macce": "mac_latin2", "tis620": "tis_620",
    "gbk": "gbk", "gb2312": "gb2312", "gb18030": "gb18030", "big5": "big5",
    "sjis": "shift_jis", "cp932": "cp932", "ujis": "euc_jp", "eucjpms": "euc_jp",
    "euckr": "cp949", "ucs2": "utf-16-be", "utf16": "utf-16-be", "utf16le": "utf-16-le",
    "utf32": "utf-32-be",
}  # fmt: skip


_collations: dict[int, str] = {}  # collation id -> charset name, as the server says
_defaults: dict[str, int] = {}  # charset name -> its default collation id


class UnknownCharsetError(ConfigError):
    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what}: hub has no decoder for it, and reading its bytes as UTF-8 would give other "
            f"characters. Convert the column to utf8mb4 (ALTER TABLE ... CONVERT TO CHARACTER "
            f"SET utf8mb4), or leave it out with column.exclude.list"
        )


def learn(con: Any) -> None:
    """The server's collation ids (MariaDB 10.10+ lists its uca1400 ones apart)."""
    from connectors.source.mysql.server import query

    found = {int(i): str(cs) for i, cs in query(
        con, "SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS "
        "WHERE ID IS NOT NULL",
    )}  # fmt: skip
    with contextlib.suppress(Exception):  # (MySQL and MariaDB before 10.10: no such column)
        found.update({int(i): str(cs) for i, cs in query(
            con, "SELECT ID, CHARACTER_SET_NAME FROM "
            "information_schema.COLLATION_CHARACTER_SET_APPLICABILITY WHERE ID IS NOT NULL",
        )})  # fmt: skip
    defaults = query(
        con, "SELECT CHARACTER_SET_NAME, ID FROM information_schema.COLLATIONS "
        "WHERE IS_DEFAULT = 'Yes'",
    )  # fmt: skip
    if found != _collations:
        _collations.update(found)
        _defaults.update({str(cs): int(i) for cs, i in defaults})
        codec.cache_clear()


def charset(collation: int) -> str:
    name = _collations.get(collation)
    if name is None:
        from pymysql.charset import charset_by_id

        try:
            name = str(charset_by_id(collation).name)
        except KeyError:
            raise UnknownCharsetError(f"collation id {collation}") from None
    return name


@functools.lru_cache(maxsize=512)
def codec(collation: int) -> str:
    """The Python codec of a collation id's charset; `UnknownCharsetError` without one."""
    name = charset(collation)
    if name == "binary":
        return "latin1"  # (bytes kept as they are: the callers test BINARY first)
    found = _CODECS.get(name)
    if found is None:
        raise UnknownCharsetError(f"character set {name} (collation id {collation})")
    return found


def collation_of(name: str) -> int | None:
    """A collation id of the charset ``name`` (its default), as a TABLE_MAP would hold."""
    if name == "binary":
        return BINARY
    if name in _defaults:
        return _defaults[name]
    from pymysql.charset import charset_by_name

    found = charset_by_name(name)
    return None if found is None else int(found.id)


def _latin1_table() -> str:
    out = []
    for b in range(256):
        try:
            out.append(bytes([b]).decode("cp1252"))
        except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: MySQL maps them as is
            out.append(chr(b))
    return "".join(out)


_LATIN1 = _latin1_table()
_LATIN1_ENCODE = codecs.charmap_build(_LATIN1)


def _search(name: str) -> codecs.CodecInfo | None:
    if name in ("hub-mysql-latin1", "hub_mysql_latin1"):
        return codecs.CodecInfo(
            name="hub-mysql-latin1",
            encode=lambda s, errors="strict": codecs.charmap_encode(s, errors, _LATIN1_ENCODE),
            decode=lambda b, errors="strict": codecs.charmap_decode(b, errors, _LATIN1),
        )
    prefix = "hub-mysql-" if name.startswith("hub-mysql-") else "hub_mysql_"
    if name.startswith(prefix) and name[len(prefix) :] in _FIXED:
        return _fixed_codec(name[len(prefix) :])
    return None


# charsets whose Python codec reads some codes otherwise than the server, or not at all
# (`_charset_fixes`, made from the server's own tables): the codec they start from
_FIXED = {
    "greek": "iso8859_7", "hebrew": "iso8859_8", "cp1256": "cp1256", "cp866": "cp866",
    "koi8u": "koi8_u", "tis620": "tis_620", "sjis": "shift_jis", "ujis": "euc_jp",
    "eucjpms": "euc_jp", "big5": "big5",
}  # fmt: skip
_CODECS.update({cs: f"hub-mysql-{cs}" for cs in _FIXED})


_SINGLE_BYTE = frozenset({"greek", "hebrew", "cp1256", "cp866", "koi8u", "tis620"})


def _fixed_codec(cs: str) -> codecs.CodecInfo:
    """``cs`` read as the server reads it. A single-byte charset: one table of its 256 codes
    (Python's reading, the server's where they differ), decoded in C. A multi-byte one: its
    Python codec, the codes it cannot read taken from the server's table (an error handler),
    then each character it reads otherwise replaced by the server's (the oracle keeps only
    characters Python gives for one code alone: ``~`` is eucjpms 0x7E and 0x8FA2B7 both)."""
    from connectors.source.mysql._charset_fixes import FIXES

    base = _FIXED[cs]
    pairs, coded = FIXES.get(cs, ("", ""))
    swaps = list(zip(pairs[0::2], pairs[1::2], strict=True))
    extra = {bytes.fromhex(h): c for h, _, c in (e.partition(":") for e in coded.split(";") if e)}
    if cs in _SINGLE_BYTE:
        table = []
        fixed = dict(swaps)
        for b in range(256):
            try:
                c = bytes([b]).decode(base)
                table.append(fixed.get(c, c))
            except UnicodeDecodeError:
                table.append(extra.get(bytes([b]), "\ufffe"))  # (U+FFFE: undefined)
        charmap = "".join(table)

        def decode_single(b: Any, errors: str = "strict") -> tuple[str, int]:
            return codecs.charmap_decode(b, errors, charmap)

        return codecs.CodecInfo(name=f"hub-mysql-{cs}", encode=_decode_only(cs),
                                decode=decode_single)  # fmt: skip
    base_decode = codecs.getdecoder(base)
    handlers: dict[str, str] = {}

    def handler(errors: str) -> str:
        """The error handler for ``errors``: the server's table first, then ``errors``'s
        own (a DDL's text is read with "replace": an unknown byte must not stop it)."""
        name = handlers.get(errors)
        if name is None:
            fallback = codecs.lookup_error(errors)

            def from_table(exc: UnicodeError) -> tuple[str, int]:
                if isinstance(exc, UnicodeDecodeError):
                    data, start = exc.object, exc.start
                    for n in (3, 2, 1):
                        found = extra.get(bytes(data[start : start + n]))
                        if found is not None and start + n <= len(data):
                            return found, start + n
                replaced, at = fallback(exc)
                return str(replaced), at

            name = handlers[errors] = f"hub-mysql-{cs}-table-{errors}"
            codecs.register_error(name, from_table)
        return name

    def decode_multi(b: Any, errors: str = "strict") -> tuple[str, int]:
        text: str = base_decode(b, handler(errors) if extra else errors)[0]
        if not text.isascii():  # (the swapped characters are none of ASCII: see the oracle)
            for python, server in swaps:
                if python in text:
                    text = text.replace(python, server)
        return text, len(b)

    return codecs.CodecInfo(name=f"hub-mysql-{cs}", encode=_decode_only(cs), decode=decode_multi)


def _decode_only(cs: str) -> Any:
    def encode(s: str, errors: str = "strict") -> tuple[bytes, int]:
        raise UnicodeError(f"{cs}: hub decodes this charset only")

    return encode


codecs.register(_search)
