"""Records whose keys and values sit in shared buffers: a bulk read encoded at once.

A snapshot chunk's rows come out of the row codec as one buffer of values and one of keys
with their end offsets (`connectors.source.postgres.rowcodec.CopyPacked`); every record of a
slice shares the same bytes before and after its own (``wrap``: the envelope and schema of a
JSON event). `Producer.send_packed` encodes such a slice into the log's records sections in
one C call, without a Python object per record (`codec.encode_packed`).
"""

from __future__ import annotations

from dataclasses import dataclass

Wrap = tuple[bytes, bytes, bytes, bytes]  # value head, value tail, key head, key tail
NO_WRAP: Wrap = (b"", b"", b"", b"")


@dataclass(frozen=True, slots=True)
class Packed:
    """Records ``start..stop-1``: record i's value is ``wrap[0] + values[a:b] + wrap[1]`` where
    ``b = value_ends[i]`` and ``a`` the previous end (0 for record 0); ``value_ends`` is a
    native int64 array as bytes. Keys likewise, between ``wrap[2]`` and ``wrap[3]``; with
    ``keys`` None every key is None."""

    values: bytes
    value_ends: bytes
    keys: bytes | None
    key_ends: bytes | None
    start: int
    stop: int
    wrap: Wrap = NO_WRAP
    # the records repeat much beyond the wrap (change events: each its source block, before
    # and after alike): compressed as a whole rather than with only the wrap as matches
    compress_bodies: bool = False

    def __len__(self) -> int:
        return self.stop - self.start

    def slice(self, start: int, stop: int, wrap: Wrap | None = None) -> Packed:
        """Records ``start..stop-1`` (absolute indexes into the buffers)."""
        return Packed(self.values, self.value_ends, self.keys, self.key_ends, start, stop,
                      self.wrap if wrap is None else wrap, self.compress_bodies)  # fmt: skip

    @staticmethod
    def _item(buf: bytes, ends: bytes, i: int) -> bytes:
        view = memoryview(ends).cast("q")
        return buf[view[i - 1] if i else 0 : view[i]]

    def value(self, i: int) -> bytes:
        """Record i's value (absolute index)."""
        return self.wrap[0] + self._item(self.values, self.value_ends, i) + self.wrap[1]

    def key(self, i: int) -> bytes | None:
        if self.keys is None or self.key_ends is None:
            return None
        return self.wrap[2] + self._item(self.keys, self.key_ends, i) + self.wrap[3]

    def lists(self) -> tuple[list[bytes | None], list[bytes | None]]:
        """(keys, values) of every record, as objects: for the paths that need them."""
        r = range(self.start, self.stop)
        return [self.key(i) for i in r], [self.value(i) for i in r]
