"""How much a source holds at once, whatever its database: rows of 500 KB (a document, an
image) make rows, not memory, the wrong measure, so a snapshot's chunk and a poll end at a
byte bound as well as at their row counts (``snapshot.fetch.size``, ``max.batch.size``)."""

from __future__ import annotations

# a snapshot chunk ends at about this many bytes of the server's text (one row at least):
# with snapshot.fetch.size rows alone, 500 KB rows made chunks of 5 GB (a snapshot of a
# 1.4 GB table took 5.9 GB: the chunks queued, encoded, in a poll); a snapshot's poll takes
# as much
CHUNK_MAX_BYTES = 32 << 20
# the paths that size a chunk by the rows seen before (a LIMIT a chunk, a table without a
# key's page ranges) take at most this many rows in their first
FIRST_CHUNK_ROWS = 1024
# a streaming poll ends once it has read this many bytes of the server's change messages
# (one message at least): max.batch.size rows of 500 KB could make a poll of 1 GB when the
# server sent faster than the task handled (a backlog of 2 000 such rows in transactions of
# 100 peaked at 167-179 MB of RSS without it, 116-117 MB with it: docs/performance.md)
POLL_MAX_BYTES = CHUNK_MAX_BYTES
