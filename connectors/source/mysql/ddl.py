"""MySQL/MariaDB DDL as the schema history needs it: a tokenizer and a recursive-descent
parser for the statements that change what a table's row images hold.

Parsed: ``CREATE TABLE`` (column definitions, ``LIKE``), ``ALTER TABLE`` (ADD / DROP / MODIFY
/ CHANGE / RENAME COLUMN, RENAME TO, ADD / DROP PRIMARY KEY, CONVERT TO CHARACTER SET, the
table's default charset), ``RENAME TABLE``, ``DROP TABLE``, ``CREATE / ALTER / DROP
DATABASE``. Every other statement (indexes, views, routines, grants, ...) is recognised by its
first words and has no effect. Executable comments (``/*!50100 ... */``, ``/*M!100100 ... */``)
are read as the server reads them. A statement of the parsed kinds that does not parse raises
`DdlError` naming the place; the caller decides (schema.history.internal.skip.unparseable.ddl).

sqlglot (30.x) was tried first and fell back to an opaque command or failed on statements the
binlog holds every day (``RENAME TABLE``, ``CONVERT TO CHARACTER SET``, ``ADD COLUMN (a, b)``,
``POINT`` and ``NATIONAL VARCHAR`` columns); this grammar is MySQL's own, for these statements.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace

__all__ = [
    "ColumnSpec", "DdlError", "parse", "parse_type",
    "AddColumn", "DropColumn", "ModifyColumn", "RenameColumn", "RenameTo", "PrimaryKey",
    "Convert", "DefaultCharset", "Versioning", "CreateTable", "AlterTable", "RenameTables",
    "DropTables", "Database",
]  # fmt: skip


log = logging.getLogger(__name__)


class DdlError(ValueError):
    def __init__(self, message: str, sql: str, at: int) -> None:
        super().__init__(f"{message} at character {at}: {sql[max(0, at - 40) : at + 40]!r}")
        self.sql, self.at = sql, at


# -- tokens --------------------------------------------------------------------------------
_TOKEN_PATTERN = r"""(?P<ws>\s+)
      | (?P<comment>--(?:[ \t][^\n]*)?(?:\n|$)|\#[^\n]*|/\*(?!M?!).*?\*/)
      | (?P<exec>/\*M?!\d*)
      | (?P<end>\*/)
      | (?P<qid>`(?:[^`]|``)*`)
      | (?P<str>STRING)
      | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w$\x80-\U0010ffff]))
      | (?P<id>[\w$\x80-\U0010ffff]+)
      | (?P<op>.)"""
# a string literal: with backslash escapes (the default), or under sql_mode
# NO_BACKSLASH_ESCAPES, where a backslash is a character like any other
_STRING = r"""'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*" """.strip()
_STRING_NO_BACKSLASH = r"""'(?:[^']|'')*'|"(?:[^"]|"")*" """.strip()
_TOKEN = re.compile(_TOKEN_PATTERN.replace("STRING", _STRING), re.X | re.S)
_TOKEN_NO_BACKSLASH = re.compile(
    _TOKEN_PATTERN.replace("STRING", _STRING_NO_BACKSLASH), re.X | re.S
)


@dataclass(frozen=True, slots=True)
class Tok:
    kind: str  # id, qid, str, num, op
    text: str  # identifiers unquoted, strings unescaped
    at: int

    def word(self) -> str:
        return self.text.upper() if self.kind == "id" else ""


# the server's escapes; any other escaped character is itself, but for \% and \_, which keep
# their backslash (they are LIKE's wildcards escaped, in any string)
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a",
            "%": "\\%", "_": "\\_"}  # fmt: skip


def _unescape(raw: str, backslash_escapes: bool = True) -> str:
    """A quoted string's text: doubled quotes and (unless ``backslash_escapes`` is False:
    sql_mode NO_BACKSLASH_ESCAPES) backslash escapes read in one pass."""
    quote, body = raw[0], raw[1:-1]
    if not backslash_escapes:
        return body.replace(quote * 2, quote)
    return re.sub(
        r"\\(.)|" + quote * 2,
        lambda m: quote if m.group(1) is None else _ESCAPES.get(m.group(1), m.group(1)),
        body, flags=re.S,
    )  # fmt: skip


def quote(text: str) -> str:
    """``text`` as a string literal `tokens` reads back as ``text`` (with backslash escapes)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def tokens(sql: str, backslash_escapes: bool = True) -> list[Tok]:
    """The statement's tokens; ``backslash_escapes`` False: as under sql_mode
    NO_BACKSLASH_ESCAPES (the mode of the session that ran it, from its Query event)."""
    out: list[Tok] = []
    pattern = _TOKEN if backslash_escapes else _TOKEN_NO_BACKSLASH
    for m in pattern.finditer(sql):
        kind = m.lastgroup
        text = m.group()
        if kind in ("ws", "comment", "exec", "end"):
            continue  # an executable comment's text is read as the statement's own
        if kind == "qid":
            text = text[1:-1].replace("``", "`")
        elif kind == "str":
            text = _unescape(text, backslash_escapes)
        out.append(Tok(str(kind), text, m.start()))
    return out


# -- what the parser returns ---------------------------------------------------------------
@dataclass(frozen=True)
class ColumnSpec:
    """A column definition: its type as information_schema's COLUMN_TYPE writes it
    (``int(10) unsigned``, ``enum('a','b')``) and the attributes the history keeps."""

    name: str
    type_name: str  # canonical, lower case: int, varchar, enum, point, ...
    args: tuple[int, ...] = ()  # length / precision, scale / fraction digits
    labels: tuple[str, ...] = ()  # ENUM / SET values
    unsigned: bool = False
    zerofill: bool = False
    charset: str | None = None  # as written (or implied: NATIONAL, BINARY types)
    collation: str | None = None
    nullable: bool = True
    primary: bool = False
    auto_increment: bool = False
    generated: bool = False
    default: str | None = None
    comment: str | None = None
    # ON UPDATE CURRENT_TIMESTAMP (a TIMESTAMP with it is never promoted to DEFAULT
    # CURRENT_TIMESTAMP under explicit_defaults_for_timestamp OFF); not in the history's
    # records, so left out of comparisons
    on_update: bool = field(default=False, compare=False)
    # the value the rows a table had got when this column was added, once its default has
    # changed since (SET DEFAULT, MODIFY): (text or None,); None while it is `fill_default`
    added_fill: tuple[str | None] | None = field(default=None, compare=False)

    @property
    def type_expression(self) -> str:
        out = self.type_name
        if self.labels:
            out += "(" + ",".join(quote(v) for v in self.labels) + ")"
        elif self.args:
            out += "(" + ",".join(map(str, self.args)) + ")"
        if self.unsigned:
            out += " unsigned"
        if self.zerofill:
            out += " zerofill"
        return out

    @property
    def fill_default(self) -> str | None:
        """The text of the value the rows a table has get when this column is added to it:
        its DEFAULT; for a NOT NULL column without one, its type's implicit default, which
        the server writes into every row and the sinks must fill too (they had filled
        NULL): 0, '', no bytes, an ENUM's first label, the empty SET, 00:00:00, the zero date
        and datetime, the zero TIMESTAMP (explicit_defaults_for_timestamp ON, MySQL 8's and
        MariaDB 10.10's default; with it OFF the history gives the column its implicit
        DEFAULT, see `Schemas`); None where hub fills nothing (no default, an AUTO_INCREMENT
        or generated column)."""
        if (
            self.default is not None and self.type_name in ("double", "float")
            and len(self.args) == 2 and _decimals(self.default) > self.args[1]
        ):  # fmt: skip
            # FLOAT(M,D)/DOUBLE(M,D) with more decimals than D: the server rounds it its own
            # way (0.35 -> 0.4, 0.05 -> 0.0, 3.5 -> 3): none, rather than another value
            return None
        if self.default is not None or self.nullable or self.auto_increment or self.generated:
            return self.default
        name = self.type_name
        if name == "year":
            return "0000"  # (the zero year; "0" would be text's 2000 to the history)
        if name in _ZERO_FILLED:
            return "0"
        if name == "enum":
            return self.labels[0] if self.labels else None
        if name in _BYTES or (name in _EMPTY_FILLED and self.charset == "binary"):
            return "x''"  # (no bytes; BINARY(n) is padded to n zero bytes, as the server does)
        if name == "set" or name in _EMPTY_FILLED:
            return ""
        if name == "bit":
            return "b'0'"
        if name == "time":
            return "00:00:00"
        if name == "date":  # (the zero date: the events' value of it in a NOT NULL column)
            return "0000-00-00"
        if name in ("datetime", "timestamp"):
            return ZERO_DATETIME
        return None


ZERO_DATETIME = "0000-00-00 00:00:00"


def _decimals(text: str) -> int:
    """How many decimals a number's text has (written with an exponent: as many as it may
    need, 99)."""
    if "e" in text.lower():
        return 99
    return len(text.partition(".")[2])


_ZERO_FILLED = {
    "tinyint", "smallint", "mediumint", "int", "bigint", "decimal", "float", "double", "year",
}  # fmt: skip
_EMPTY_FILLED = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext"}
_BYTES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}


@dataclass(frozen=True)
class AddColumn:
    column: ColumnSpec
    position: str | None = None  # None: last; "": first; a name: after it
    if_not_exists: bool = False


@dataclass(frozen=True)
class DropColumn:
    name: str
    if_exists: bool = False


@dataclass(frozen=True)
class ModifyColumn:
    old: str  # the column changed (CHANGE: renamed to column.name)
    column: ColumnSpec
    position: str | None = None
    if_exists: bool = False


@dataclass(frozen=True)
class RenameColumn:
    old: str
    new: str


_UNREAD = "\0unread"  # (a default `default_value` could not read)


@dataclass(frozen=True)
class SetDefault:
    """``ALTER [COLUMN] c SET DEFAULT x`` (``default`` x as `default_value` reads it) or
    ``DROP DEFAULT`` (None)."""

    column: str
    default: str | None
    if_exists: bool = False


@dataclass(frozen=True)
class RenameTo:
    db: str | None
    name: str


@dataclass(frozen=True)
class PrimaryKey:
    columns: tuple[str, ...] | None  # None: DROP PRIMARY KEY


@dataclass(frozen=True)
class Convert:
    charset: str | None
    collation: str | None


@dataclass(frozen=True)
class DefaultCharset:
    charset: str | None
    collation: str | None


@dataclass(frozen=True)
class Versioning:
    """MariaDB's ``ADD SYSTEM VERSIONING`` (on) or ``DROP SYSTEM VERSIONING``."""

    on: bool


@dataclass(frozen=True)
class PartitionRows:
    """Rows a partition operation removes or moves with no row event in the binlog: ``verb``
    TRUNCATE or DROP (a partition's rows gone), EXCHANGE (a partition's rows and ``other``'s
    swapped), CONVERT (MariaDB 10.7: a partition made the new table ``other``), INTO (10.7:
    the table ``other`` made a partition, its rows moved in, itself gone)."""

    verb: str
    other: tuple[str | None, str] | None = None


Action = (
    AddColumn | DropColumn | ModifyColumn | RenameColumn | SetDefault | RenameTo | PrimaryKey
    | Convert | DefaultCharset | Versioning | PartitionRows
)  # fmt: skip


@dataclass(frozen=True)
class CreateTable:
    db: str | None
    name: str
    columns: tuple[ColumnSpec, ...] = ()
    primary_key: tuple[str, ...] = ()
    charset: str | None = None
    collation: str | None = None
    like: tuple[str | None, str] | None = None
    if_not_exists: bool = False
    temporary: bool = False
    versioned: bool = False  # MariaDB's WITH SYSTEM VERSIONING (of the table or a column)


@dataclass(frozen=True)
class AlterTable:
    db: str | None
    name: str
    actions: tuple[Action, ...]
    if_exists: bool = False  # MariaDB's ALTER TABLE IF EXISTS


@dataclass(frozen=True)
class RenameTables:
    pairs: tuple[tuple[tuple[str | None, str], tuple[str | None, str]], ...]


@dataclass(frozen=True)
class DropTables:
    tables: tuple[tuple[str | None, str], ...]
    temporary: bool = False


@dataclass(frozen=True)
class Database:
    verb: str  # CREATE, ALTER, DROP
    name: str | None  # ALTER DATABASE without a name: the default database
    charset: str | None = None
    collation: str | None = None
    if_not_exists: bool = False


Statement = CreateTable | AlterTable | RenameTables | DropTables | Database


# -- types ---------------------------------------------------------------------------------
_SYNONYMS = {
    "integer": "int", "int1": "tinyint", "int2": "smallint", "int3": "mediumint",
    "middleint": "mediumint", "int4": "int", "int8": "bigint", "dec": "decimal",
    "fixed": "decimal", "numeric": "decimal", "real": "double", "float4": "float",
    "float8": "double", "character": "char", "geomcollection": "geometrycollection",
    "nchar": "char", "nvarchar": "varchar",
}  # fmt: skip
_NATIONAL = {"nchar", "nvarchar"}
_TEXTUAL = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"}
BINARY_OF = {"char": "binary", "varchar": "varbinary", "tinytext": "tinyblob",
              "text": "blob", "mediumtext": "mediumblob", "longtext": "longblob"}  # fmt: skip


def is_textual(type_name: str) -> bool:
    return type_name in _TEXTUAL


class _Parser:
    def __init__(
        self, sql: str, backslash_escapes: bool = True, explicit_timestamps: bool = True
    ) -> None:
        self.sql = sql
        # explicit_defaults_for_timestamp: OFF, a TIMESTAMP column not declared NULL is NOT NULL
        self.explicit_timestamps = explicit_timestamps
        self.toks = tokens(sql, backslash_escapes)
        self.i = 0
        self.versioning = False  # a WITH SYSTEM VERSIONING seen (a table's or a column's)

    # -- primitives
    def peek(self, k: int = 0) -> Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def word(self, k: int = 0) -> str:
        t = self.peek(k)
        return t.word() if t is not None else ""

    def error(self, message: str) -> DdlError:
        t = self.peek()
        return DdlError(message, self.sql, t.at if t is not None else len(self.sql))

    def next(self) -> Tok:
        t = self.peek()
        if t is None:
            raise self.error("unexpected end of statement")
        self.i += 1
        return t

    def accept(self, *words: str) -> bool:
        """The next words are ``words`` (consumed) or nothing is consumed."""
        for k, w in enumerate(words):
            t = self.peek(k)
            if t is None or (t.word() != w if w[0].isalpha() else
                             t.kind != "op" or t.text != w):  # fmt: skip
                return False
        self.i += len(words)
        return True

    def expect(self, *words: str) -> None:
        if not self.accept(*words):
            raise self.error(f"expected {' '.join(words)}")

    def op(self, text: str) -> bool:
        t = self.peek()
        if t is not None and t.kind == "op" and t.text == text:
            self.i += 1
            return True
        return False

    def ident(self) -> str:
        t = self.next()
        if t.kind in ("id", "qid", "str"):  # "name": an identifier under ANSI_QUOTES
            return t.text
        raise DdlError("expected a name", self.sql, t.at)

    def name(self) -> tuple[str | None, str]:
        first = self.ident()
        if self.op("."):
            return first, self.ident()
        return None, first

    def string(self) -> str:
        t = self.next()
        if (
            t.kind == "id"
            and (t.text.startswith("_") or t.text.lower() == "n")
            and (
                self.peek() is not None and self.peek().kind == "str"  # type: ignore[union-attr]
            )
        ):
            t = self.next()  # a charset introducer: _utf8mb4'x', N'x'
        if t.kind != "str":
            raise DdlError("expected a quoted string", self.sql, t.at)
        return t.text

    def number(self) -> int:
        t = self.next()
        if t.kind != "num" or not t.text.isdigit():
            raise DdlError("expected a number", self.sql, t.at)
        return int(t.text)

    def skip_expression(self) -> str:
        """One expression or balanced group up to ``,`` or ``)`` at depth 0: its text."""
        start = self.peek()
        depth = 0
        end = start.at if start is not None else len(self.sql)
        while (t := self.peek()) is not None:
            if t.kind == "op" and t.text in ",)" and depth == 0:
                break
            if t.kind == "op" and t.text == "(":
                depth += 1
            elif t.kind == "op" and t.text == ")":
                depth -= 1
            self.i += 1
            end = t.at + len(t.text)
        return self.sql[start.at : end] if start is not None else ""

    def skip_group(self) -> None:
        """A parenthesised group, whole."""
        self.expect("(")
        depth = 1
        while depth:
            t = self.next()
            if t.kind == "op" and t.text == "(":
                depth += 1
            elif t.kind == "op" and t.text == ")":
                depth -= 1

    def skip_to_comma(self) -> None:
        """The rest of a clause: up to a ``,`` or ``)`` at depth 0, or the end."""
        self.skip_expression()

    def charset_name(self) -> str:
        t = self.next()
        if t.kind not in ("id", "qid", "str"):
            raise DdlError("expected a character set name", self.sql, t.at)
        return t.text.lower()

    # -- column types
    def data_type(self, name: str) -> ColumnSpec:
        base = self.next()
        if base.kind != "id":
            raise DdlError("expected a type", self.sql, base.at)
        kind = base.text.lower()
        charset: str | None = None
        national = False
        if kind == "national":
            national, kind = True, self.next().text.lower()
        if kind in ("char", "character", "nchar") and self.accept("VARYING"):
            kind = "nvarchar" if kind == "nchar" else "varchar"
        elif kind == "nchar" and self.accept("VARCHAR"):  # NCHAR VARCHAR(n): NVARCHAR(n)
            kind = "nvarchar"
        elif kind == "double" and self.accept("PRECISION"):
            pass
        elif kind == "long":
            if self.accept("VARBINARY"):
                kind = "mediumblob"
            else:
                self.accept("VARCHAR") or self.accept("CHAR", "VARYING")
                kind = "mediumtext"
        if kind in _NATIONAL:
            national = True
        kind = _SYNONYMS.get(kind, kind)
        spec = ColumnSpec(name, kind)
        if kind in ("bool", "boolean"):
            spec = replace(spec, type_name="tinyint", args=(1,))
        elif kind == "serial":
            spec = replace(spec, type_name="bigint", unsigned=True, nullable=False,
                           auto_increment=True)  # fmt: skip
        elif kind in ("enum", "set"):
            self.expect("(")
            labels = [self.string()]
            while self.op(","):
                labels.append(self.string())
            self.expect(")")
            # the server strips a member's trailing spaces when it creates the column
            spec = replace(spec, labels=tuple(v.rstrip(" ") for v in labels))
        elif self.peek() is not None and self.peek().text == "(":  # type: ignore[union-attr]
            self.next()
            args = [self.number()]
            while self.op(","):
                args.append(self.number())
            self.expect(")")
            spec = replace(spec, args=tuple(args))
        if spec.type_name == "float" and len(spec.args) == 1:  # FLOAT(p): by its precision
            spec = replace(spec, type_name="double" if spec.args[0] > 24 else "float", args=())
        if national:
            charset = "utf8mb3"
        # attributes that belong to the type
        while True:
            if self.accept("UNSIGNED"):
                spec = replace(spec, unsigned=True)
            elif self.accept("SIGNED"):
                pass
            elif self.accept("ZEROFILL"):
                spec = replace(spec, zerofill=True, unsigned=True)
            elif self.accept("CHARACTER", "SET") or self.accept("CHARSET"):
                charset = self.charset_name()
            elif self.accept("ASCII"):
                charset = "latin1"
            elif self.accept("UNICODE"):
                charset = "ucs2"
            elif self.accept("BYTE") and kind == "char":
                charset = "binary"
            elif self.accept("BINARY"):
                pass  # the charset's binary collation: the same charset
            elif self.accept("COLLATE"):
                spec = replace(spec, collation=self.charset_name())
            else:
                break
        if charset == "binary" and kind in BINARY_OF:
            spec = replace(spec, type_name=BINARY_OF[kind])
            charset = None
        return replace(spec, charset=charset if is_textual(spec.type_name) else None)

    def column(self, name: str) -> ColumnSpec:
        spec = self.data_type(name)
        null_given = False
        while (t := self.peek()) is not None and not (t.kind == "op" and t.text in ",)"):
            w = t.word()
            if w in ("FIRST", "AFTER"):  # ALTER TABLE's position: the caller's
                break
            if self.accept("NOT", "NULL"):
                spec, null_given = replace(spec, nullable=False), True
            elif self.accept("NULL"):
                spec, null_given = replace(spec, nullable=True), True
            elif self.accept("DEFAULT"):
                spec = replace(spec, default=self.default_value())
            elif self.accept("AUTO_INCREMENT"):
                spec = replace(spec, auto_increment=True)
            elif self.accept("PRIMARY", "KEY") or (w == "KEY" and self.accept("KEY")):
                spec = replace(spec, primary=True, nullable=False)
            elif self.accept("UNIQUE"):
                self.accept("KEY")
            elif self.accept("COMMENT"):
                spec = replace(spec, comment=self.string())
            elif self.accept("COLLATE"):
                spec = replace(spec, collation=self.charset_name())
            elif self.accept("CHARACTER", "SET") or self.accept("CHARSET"):
                spec = replace(spec, charset=self.charset_name()
                               if is_textual(spec.type_name) else None)  # fmt: skip
            elif w in ("GENERATED", "AS"):
                self.accept("GENERATED", "ALWAYS")
                self.expect("AS")
                if self.peek() is not None and self.peek().text == "(":  # type: ignore[union-attr]
                    self.skip_group()
                    spec = replace(spec, generated=True)
                else:  # AS ROW START / END, AS IDENTITY (system versioning)
                    self.next()
                    self.accept("START") or self.accept("END")
            elif self.accept("CONSTRAINT"):
                if self.word() != "CHECK":
                    self.ident()
            elif self.accept("CHECK"):
                self.skip_group()
                self.accept("NOT", "ENFORCED") or self.accept("ENFORCED")
            elif self.accept("REFERENCES"):
                self.name()
                if self.peek() is not None and self.peek().text == "(":  # type: ignore[union-attr]
                    self.skip_group()
                while self.word() in ("MATCH", "ON"):
                    if self.accept("MATCH"):
                        self.next()
                        continue
                    self.next()
                    self.next()  # DELETE / UPDATE
                    if not (self.accept("SET") and self.next()) and not self.accept("NO", "ACTION"):
                        self.accept("RESTRICT") or self.accept("CASCADE")
            elif self.accept("ON", "UPDATE"):
                spec = replace(spec, on_update=True)
                self.next()  # CURRENT_TIMESTAMP, NOW, LOCALTIMESTAMP...
                if self.peek() is not None and self.peek().text == "(":  # type: ignore[union-attr]
                    self.skip_group()
            elif w in ("VIRTUAL", "STORED", "PERSISTENT", "INVISIBLE", "VISIBLE"):
                self.next()
            elif w in ("COLUMN_FORMAT", "STORAGE", "SRID"):
                self.next()
                self.next()
            elif self.accept("WITH", "SYSTEM", "VERSIONING"):
                self.versioning = True  # (a column's: the table is versioned)
            elif self.accept("WITHOUT", "SYSTEM", "VERSIONING") or self.accept(
                "SERIAL", "DEFAULT", "VALUE"
            ):
                pass
            elif w == "COMPRESSED":
                self.next()
                if self.op("="):
                    self.next()
            elif t.kind == "id" and (n := self.peek(1)) is not None and n.text == "=":
                self.i += 2  # ENGINE_ATTRIBUTE = '...', an engine's own column attribute
                self.next()
            else:
                raise self.error(f"unexpected {t.text!r} in the definition of column {name!r}")
        if spec.charset is None and spec.collation:
            spec = replace(spec, charset=collation_charset(spec.collation)
                           if is_textual(spec.type_name) else None)  # fmt: skip
        if spec.charset == "binary" and spec.type_name in BINARY_OF:
            spec = replace(spec, type_name=BINARY_OF[spec.type_name], charset=None)
        if (
            spec.type_name == "timestamp" and not self.explicit_timestamps and not null_given
            and not spec.generated
        ):  # fmt: skip
            spec = replace(spec, nullable=False)
        return spec

    def default_value(self) -> str | None:
        t = self.peek()
        if t is not None and t.kind == "op" and t.text == "(":
            start = t.at
            self.skip_group()
            prev = self.toks[self.i - 1]
            return self.sql[start : prev.at + 1]
        if t is not None and t.kind == "op" and t.text in "-+":
            self.next()
            return t.text + self.next().text
        if (
            t is not None
            and t.kind == "id"
            and (t.text.startswith("_") or t.text.lower() in ("b", "x", "n"))
            and (n := self.peek(1)) is not None
            and n.kind == "str"
        ):  # _utf8mb4'x', N'x', b'1', x'ff'
            self.next()
            self.next()
            return f"{t.text}'{n.text}'" if t.text.lower() in ("b", "x") else n.text
        if (
            t is not None
            and t.kind == "id"
            and t.text.startswith("_")
            and (n := self.peek(1)) is not None
            and (lit := _literal(n)) is not None
        ):  # _latin1 0xE9: the bytes, read in that charset (unknown: the literal)
            self.next()
            self.next()
            return _introduced(t.text[1:], lit) or lit
        v = self.next()
        if v.word() == "NULL":
            return None
        if (lit := _literal(v)) is not None:  # (told from a quoted '0x6869': text as written)
            return lit
        if v.kind == "id" and self.peek() is not None and self.peek().text == "(":  # type: ignore[union-attr]
            self.skip_group()  # CURRENT_TIMESTAMP(6), NOW()
            return v.text + "(...)"
        return v.text

    # -- statements
    def statement(self) -> Statement | None:
        w = self.word()
        if w == "CREATE":
            self.next()
            self.accept("OR", "REPLACE")
            self.accept("DEFINER")  # (views, routines: ignored below)
            temporary = self.accept("TEMPORARY")
            if self.accept("TABLE"):
                return self.create_table(temporary)
            if self.accept("DATABASE") or self.accept("SCHEMA"):
                return self.database("CREATE")
            return None
        if w == "ALTER":
            self.next()
            self.accept("ONLINE")
            self.accept("IGNORE")
            if self.accept("TABLE"):
                return self.alter_table()
            if self.accept("DATABASE") or self.accept("SCHEMA"):
                return self.database("ALTER")
            return None
        if w == "DROP":
            self.next()
            temporary = self.accept("TEMPORARY")
            if self.accept("TABLE") or self.accept("TABLES"):
                self.accept("IF", "EXISTS")
                names = [self.name()]
                while self.op(","):
                    names.append(self.name())
                return DropTables(tuple(names), temporary)
            if self.accept("DATABASE") or self.accept("SCHEMA"):
                self.accept("IF", "EXISTS")
                return Database("DROP", self.ident())
            return None
        if w == "RENAME" and self.word(1) in ("TABLE", "TABLES"):
            self.i += 2
            pairs = []
            while True:
                self.accept("IF", "EXISTS")
                old = self.name()
                if self.accept("WAIT"):
                    self.number()
                self.accept("NOWAIT")
                self.expect("TO")
                pairs.append((old, self.name()))
                if not self.op(","):
                    break
            return RenameTables(tuple(pairs))
        return None

    def database(self, verb: str) -> Database:
        if_not_exists = self.accept("IF", "NOT", "EXISTS")
        name = None
        t = self.peek()
        if t is not None and t.word() not in ("DEFAULT", "CHARACTER", "CHARSET", "COLLATE",
                                              "COMMENT", "UPGRADE"):  # fmt: skip
            name = self.ident()
        charset = collation = None
        while (t := self.peek()) is not None:
            if self.accept("CHARACTER", "SET") or self.accept("CHARSET"):
                self.op("=")
                charset = self.charset_name()
            elif self.accept("COLLATE"):
                self.op("=")
                collation = self.charset_name()
            else:
                self.next()
        return Database(verb, name, charset, collation, if_not_exists)

    def create_table(self, temporary: bool) -> CreateTable:
        if_not_exists = self.accept("IF", "NOT", "EXISTS")
        db, name = self.name()
        if self.accept("LIKE"):
            return CreateTable(db, name, like=self.name(), if_not_exists=if_not_exists,
                               temporary=temporary)  # fmt: skip
        if self.peek() is not None and self.word(1) == "LIKE" and self.op("("):
            self.expect("LIKE")
            like = self.name()
            self.expect(")")
            return CreateTable(db, name, like=like, if_not_exists=if_not_exists,
                               temporary=temporary)  # fmt: skip
        columns: list[ColumnSpec] = []
        pk: tuple[str, ...] = ()
        if self.op("("):
            while True:
                got = self.create_definition()
                if isinstance(got, ColumnSpec):
                    columns.append(got)
                elif got is not None:
                    pk = got
                if not self.op(","):
                    break
            self.expect(")")
        if not pk:
            pk = tuple(c.name for c in columns if c.primary)
        charset, collation = self.table_options()
        if self.peek() is not None and self.word() in ("SELECT", "AS", "IGNORE", "REPLACE"):
            raise self.error("CREATE TABLE ... SELECT is logged with its columns in ROW format")
        return CreateTable(db, name, tuple(columns), pk, charset, collation, None,
                           if_not_exists, temporary, self.versioning)  # fmt: skip

    def create_definition(self) -> ColumnSpec | tuple[str, ...] | None:
        """A column (ColumnSpec), the primary key (its columns) or another key (None)."""
        w = self.word()
        if w == "CONSTRAINT":
            self.next()
            self.accept("IF", "NOT", "EXISTS")  # (MariaDB's ADD CONSTRAINT IF NOT EXISTS)
            if self.word() not in ("PRIMARY", "UNIQUE", "FOREIGN", "CHECK"):
                self.ident()
            w = self.word()
        if w == "PRIMARY" and self.word(1) == "KEY":
            self.i += 2
            return self.key_columns()
        if self.keyword_clause(w):
            self.skip_to_comma()
            return None
        name = self.ident()
        return self.column(name)

    def keyword_clause(self, w: str) -> bool:
        """An index, key, check or period clause (reserved words, or words that are only
        keywords before the next one: a column may be named ``period``)."""
        nxt = self.word(1)
        return w in ("INDEX", "KEY", "UNIQUE", "FULLTEXT", "SPATIAL", "FOREIGN", "CHECK") or (
            (w == "PERIOD" and nxt == "FOR") or (w == "VECTOR" and nxt in ("INDEX", "KEY"))
            or (w == "SYSTEM" and nxt == "VERSIONING")
            or (w == "PARTITION" and self.peek(1) is not None and self.peek(1).text == "(")  # type: ignore[union-attr]
        )  # fmt: skip

    def key_columns(self) -> tuple[str, ...]:
        while self.accept("USING"):
            self.next()
        self.expect("(")
        cols = []
        while True:
            cols.append(self.ident())
            t = self.peek()
            if t is not None and t.text == "(":
                self.skip_group()  # a prefix length
            self.accept("ASC") or self.accept("DESC")
            if not self.op(","):
                break
        self.expect(")")
        self.skip_to_comma()  # USING BTREE, COMMENT, ...
        return tuple(cols)

    def table_options(self) -> tuple[str | None, str | None]:
        charset = collation = None
        while (t := self.peek()) is not None and not (t.kind == "op" and t.text in ";"):
            w = t.word()
            if w in ("PARTITION", "SELECT", "AS", "IGNORE", "REPLACE"):
                if w == "PARTITION":
                    self.i = len(self.toks)
                break
            charset, collation = self.table_option(charset, collation)
        return charset, collation

    def table_option(
        self, charset: str | None, collation: str | None
    ) -> tuple[str | None, str | None]:
        """One table option (``DEFAULT CHARSET=x``, ``COLLATE y``, ``ENGINE=InnoDB``, a
        group...): the table's default charset and collation after it."""
        t = self.peek()
        if self.accept("WITH", "SYSTEM", "VERSIONING"):
            self.versioning = True
            return charset, collation
        self.accept("DEFAULT")
        if self.accept("CHARACTER", "SET") or self.accept("CHARSET"):
            self.op("=")
            return self.charset_name(), collation
        if self.accept("COLLATE"):
            self.op("=")
            return charset, self.charset_name()
        if t is not None and t.kind == "op" and t.text == "(":
            self.skip_group()
        elif self.peek() is t:
            self.next()
        return charset, collation

    def alter_table(self) -> AlterTable:
        if_exists = self.accept("IF", "EXISTS")
        db, name = self.name()
        actions: list[Action] = []
        while self.peek() is not None:
            got = self.alter_action()
            if got is not None:
                actions.extend(got)
            if not self.op(","):
                if self.peek() is not None and self.word() == "PARTITION":
                    break
                if self.peek() is not None:
                    raise self.error("expected , between ALTER TABLE clauses")
        return AlterTable(db, name, tuple(actions), if_exists)

    def _rest(self) -> None:
        """Past every token left."""
        while self.peek() is not None:
            self.next()

    def position(self) -> str | None:
        if self.accept("FIRST"):
            return ""
        if self.accept("AFTER"):
            return self.ident()
        return None

    def alter_action(self) -> list[Action] | None:
        w = self.word()
        if w in ("DISCARD", "IMPORT") and "TABLESPACE" in (self.word(1), self.word(3)):
            # (a table's or partition's file replaced: rows in or out, no row event)
            self._rest()
            return [PartitionRows(w)]
        if w in ("TRUNCATE", "DROP", "EXCHANGE", "CONVERT") and self.word(1) == "PARTITION":
            self.next()
            self.next()
            other = None
            if w in ("EXCHANGE", "CONVERT"):
                self.ident()  # the partition
                self.expect("WITH" if w == "EXCHANGE" else "TO")
                self.accept("TABLE")
                other = self.name()
            self._rest()  # (a partition operation is the statement's only clause)
            return [PartitionRows(w, other)]
        if w == "CONVERT" and self.word(1) == "TABLE":  # CONVERT TABLE t TO PARTITION ...
            self.next()
            self.next()
            other = self.name()
            self._rest()
            return [PartitionRows("INTO", other)]
        if w == "ADD":
            self.next()
            if self.accept("SYSTEM", "VERSIONING"):
                return [Versioning(True)]
            if self.word() == "CONSTRAINT" or (self.word() == "PRIMARY" and self.word(1) == "KEY"):
                got = self.create_definition()
                return [PrimaryKey(got)] if isinstance(got, tuple) else None
            if self.keyword_clause(self.word()) or self.word() == "PARTITION":
                self.skip_to_comma()
                return None
            self.accept("COLUMN")
            if_not_exists = self.accept("IF", "NOT", "EXISTS")
            if self.op("("):
                out: list[Action] = []
                while True:
                    got = self.create_definition()
                    if isinstance(got, ColumnSpec):
                        out.append(AddColumn(got, None, if_not_exists))
                    elif got is not None:
                        out.append(PrimaryKey(got))
                    if not self.op(","):
                        break
                self.expect(")")
                return out
            col = self.column(self.ident())
            out = [AddColumn(col, self.position(), if_not_exists)]
            return out + ([PrimaryKey((col.name,))] if col.primary else [])
        if w == "DROP":
            self.next()
            if self.accept("PRIMARY", "KEY"):
                return [PrimaryKey(None)]
            if self.accept("SYSTEM", "VERSIONING"):
                return [Versioning(False)]
            if (
                self.word() in ("INDEX", "KEY")
                and (n := self.peek(1)) is not None
                and (n.text.upper() == "PRIMARY")
            ):  # DROP INDEX `PRIMARY`
                self.i += 2
                return [PrimaryKey(None)]
            w = self.word()
            if w in ("INDEX", "KEY", "FOREIGN", "CONSTRAINT", "CHECK", "PARTITION") or (
                w in ("PERIOD", "SYSTEM") and self.word(1) in ("FOR", "VERSIONING")
            ):
                self.skip_to_comma()
                return None
            self.accept("COLUMN")
            if_exists = self.accept("IF", "EXISTS")
            name = self.ident()
            self.accept("RESTRICT") or self.accept("CASCADE")
            return [DropColumn(name, if_exists)]
        if w in ("MODIFY", "CHANGE"):
            self.next()
            self.accept("COLUMN")
            if_exists = self.accept("IF", "EXISTS")
            old = self.ident()
            col = self.column(self.ident() if w == "CHANGE" else old)
            out = [ModifyColumn(old, col, self.position(), if_exists)]
            return out + ([PrimaryKey((col.name,))] if col.primary else [])
        if w == "RENAME":
            self.next()
            if self.accept("COLUMN"):
                old = self.ident()
                self.expect("TO")
                return [RenameColumn(old, self.ident())]
            if self.word() in ("INDEX", "KEY"):
                self.skip_to_comma()
                return None
            self.accept("TO") or self.accept("AS")
            db, name = self.name()
            return [RenameTo(db, name)]
        if w == "CONVERT":
            self.next()
            self.expect("TO")
            charset = collation = None
            if self.accept("CHARACTER", "SET") or self.accept("CHARSET"):
                charset = self.charset_name()
            if self.accept("COLLATE"):
                collation = self.charset_name()
            return [Convert(charset, collation)]
        if w == "ALTER" and self.word(1) not in ("INDEX", "KEY", "CHECK", "CONSTRAINT"):
            self.next()
            self.accept("COLUMN")
            if_exists = self.accept("IF", "EXISTS")
            column = self.ident()
            if self.accept("SET", "DEFAULT"):
                try:
                    value = self.default_value()
                except DdlError:
                    value = _UNREAD
                t = self.peek()
                if value is _UNREAD or not (t is None or (t.kind == "op" and t.text == ",")):
                    # (a form the history does not read: NEXT VALUE FOR s, 'a' 'b',
                    # _latin1 x'41'...: left as it was rather than the statement refused)
                    log.warning("ALTER TABLE ... ALTER %s SET DEFAULT: a default the schema "
                                "history does not read; the column's default there (the "
                                "events' field default) is left as it was", column)  # fmt: skip
                    self.skip_to_comma()
                    return None
                return [SetDefault(column, value, if_exists)]
            if self.accept("DROP", "DEFAULT"):
                return [SetDefault(column, None, if_exists)]
            self.skip_to_comma()  # SET VISIBLE / INVISIBLE
            return None
        if w == "ALTER" or w == "ORDER":  # ALTER INDEX ..., ORDER BY ...
            self.skip_to_comma()
            return None
        # table options, space-separated and in any order (ENGINE=InnoDB DEFAULT CHARSET=x),
        # ALGORITHM=, LOCK=, FORCE...: only the default charset matters
        charset = collation = None
        while (t := self.peek()) is not None and not (t.kind == "op" and t.text == ","):
            if t.word() == "PARTITION":
                break
            charset, collation = self.table_option(charset, collation)
        if charset is None and collation is None:
            return None
        return [DefaultCharset(charset, collation)]


def collation_charset(collation: str) -> str | None:
    """The character set of a collation name (``latin1_swedish_ci`` -> ``latin1``)."""
    from pymysql.charset import _charsets

    name = collation.lower()
    if name == "binary":
        return "binary"
    for c in _charsets._by_id.values():
        if c.collation == name:
            return str(c.name)
    head = name.split("_", 1)[0]
    return "utf8mb4" if head == "uca1400" else head


_HEX = re.compile(r"[xX]'((?:[0-9a-fA-F]{2})*)'")
_BIT = re.compile(r"[bB]'([01]+)'")


def _literal(t: Tok) -> str | None:
    """An unquoted hex or bit literal (``0x6869``, ``0b0110``) in the form a quoted one has
    (``x'6869'``, ``b'0110'``), or None for another token."""
    if t.kind in ("id", "num") and t.text[:2] in ("0x", "0b") and len(t.text) > 2:
        return f"{t.text[1]}'{t.text[2:]}'"
    return None


def literal_bytes(text: str) -> bytes | None:
    """The bytes of a hex or bit literal as the parser gives it (``x'6869'``, ``b'0110'``),
    or None for other text."""
    if m := _HEX.fullmatch(text):
        return bytes.fromhex(m[1])
    if m := _BIT.fullmatch(text):
        return int(m[1], 2).to_bytes((len(m[1]) + 7) // 8, "big")
    return None


def _introduced(charset: str, literal: str) -> str | None:
    """A hex or bit literal after a charset introducer (``_latin1 0xE9``) as that charset's
    text, or None where it is not one."""
    from connectors.source.mysql.charsets import UnknownCharsetError, codec, collation_of

    raw = literal_bytes(literal)
    collation = collation_of(charset.lower())
    if raw is None or collation is None or charset.lower() == "binary":
        return None
    try:
        return raw.decode(codec(collation))
    except (UnknownCharsetError, LookupError, ValueError):
        return None


def parse(
    sql: str, backslash_escapes: bool = True, explicit_timestamps: bool = True
) -> Statement | None:
    """The statement's effect on tables and databases, or None when it has none.
    ``backslash_escapes`` False: the statement ran under sql_mode NO_BACKSLASH_ESCAPES;
    ``explicit_timestamps`` False: under explicit_defaults_for_timestamp OFF (a TIMESTAMP
    column is NOT NULL unless declared NULL)."""
    p = _Parser(sql, backslash_escapes, explicit_timestamps)
    try:
        got = p.statement()
    except IndexError:
        raise p.error("unexpected end of statement") from None
    return got


def parse_type(name: str, text: str) -> ColumnSpec:
    """A column of the type ``text`` (information_schema's COLUMN_TYPE, or a history
    record's typeExpression)."""
    # (MariaDB's COLUMN_TYPE of a compressed column: "text /*M!100301 COMPRESSED*/"; its
    # values are stored compressed, read and logged as the type's)
    p = _Parser(_COMPRESSED.sub("", text))
    spec = p.data_type(name)
    if p.peek() is not None:
        raise p.error("unexpected text after the type")
    return spec


_COMPRESSED = re.compile(r"\s*/\*M?!\d*\s*COMPRESSED\s*\*/\s*$", re.IGNORECASE)
