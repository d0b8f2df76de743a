"""Debezium's column masking and truncation (`connectors.source.cdc.masks`), value for value
against Debezium's own tests (MaskStringsTest, TruncateColumn)."""

from __future__ import annotations

import pytest

from connectors.source.cdc.masks import ColumnMasks, java_serialized, problem, rule_of


@pytest.mark.parametrize(("key", "hello", "world"), [
    ("column.mask.hash.SHA-256.with.salt.salt",
     "af5843a0f0e728ab0332c8888b6e1190bfb79e584f0d40538de8f10df6ef29c6",
     "4588e1f2dcdc7fefc1515d3acd5acb9033478eace68286f383c337b9ff4464a3"),
    ("column.mask.hash.MD5.with.salt.salt",
     "46f48a7a5ea32efba87cbff49d46d35a", "030f632140d9c9591b0d8c21098024b8"),
    ("column.mask.hash.v2.SHA-256.with.salt.salt",
     "cd31b3b98ece60cb739c0bf770b2de892ae0ad133f645513c3d83f08757a843a",
     "e84ac3142870113ddc6710c06f76421befc8e8ca6de64e98d2993ed8d41f4085"),
    ("column.mask.hash.v2.MD5.with.salt.salt",
     "06decc8b095724f80103712c235586be", "172c8e95398cc72ab5358ead6981e7e5"),
])  # fmt: skip
def test_hashes_are_debeziums(key: str, hello: str, world: str) -> None:
    rule = rule_of(key, "d.t.c")
    assert rule is not None
    convert, params = rule.converter("text", None)
    assert convert is not None and params == {"masked": "true"}
    assert (convert("hello"), convert("world"), convert(None)) == (hello, world, None)
    cut, _ = rule.converter("text", 10)  # (a column of 10 characters: the hash cut to it)
    assert cut is not None and cut("hello") == hello[:10]
    assert rule.converter("other", None) == (None, {})  # (a number passes as it is)


def test_java_serialization_of_a_string() -> None:
    assert java_serialized("hello") == b"\xac\xed\x00\x05\x74\x00\x05hello"
    # modified UTF-8: NUL in two bytes, a supplementary character as two 3-byte surrogates
    assert java_serialized("a\x00é😀")[7:] == (b"a\xc0\x80\xc3\xa9\xed\xa0\xbd\xed\xb8\x80")
    long = java_serialized("x" * 70_000)
    assert long[4] == 0x7C and int.from_bytes(long[5:13], "big") == 70_000


def test_masks_truncations_and_their_order() -> None:
    masks = ColumnMasks.from_config({
        "column.mask.with.5.chars": r"db\.t\.(email|both)",
        "column.truncate.to.3.chars": r"db\.t\.(note|both|blob),DB\.T\.SHORT",
        "column.mask.hash.v2.SHA-256.with.salt.s": "db.t.other",
    })  # fmt: skip
    email, params = masks.column("db", "t", "email", "text", 100)
    assert email is not None and params == {"masked": "true"}
    assert (email("x@y.z"), email(None)) == ("*****", "*****")  # (a NULL too, as Debezium's)
    both, params = masks.column("db", "t", "both", "text", None)  # the truncation comes first
    assert both is not None and both("abcdef") == "abc" and params == {"truncateLength": "3"}
    blob, _ = masks.column("db", "t", "blob", "binary", None)
    assert blob is not None and (blob(b"\x01\x02\x03\x04"), blob(None)) == (b"\x01\x02\x03", None)
    # a column that cannot hold more than 3: nothing to cut (Debezium's isTruncationPossible)
    assert masks.column("db", "t", "short", "text", 3) == (None, {})
    assert masks.column("db", "t", "email", "other", None) == (None, {})  # not text
    # a truncation cuts JSON too, never a number or a time (the final review's)
    assert masks.column("db", "t", "note", "json", None)[0] is not None
    assert masks.column("db", "t", "note", "other", None) == (None, {})
    assert masks.column("db", "t", "id", "text", None) == (None, {})  # not named
    assert masks.column("db", "t", "other", "text", None)[0] is not None


def test_a_bad_property_is_named() -> None:
    assert problem("column.mask.hash.SHA-999.with.salt.x", "a.b.c") is not None
    assert "not a valid regular expression" in str(problem("column.mask.with.3.chars", "a.(b"))
    assert problem("column.truncate.to.3.chars", "a.b.c") is None
