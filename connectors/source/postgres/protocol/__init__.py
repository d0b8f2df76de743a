"""Wire decoding for the PostgreSQL source: pgoutput messages and the replication stream.

`pgoutput` is pure (no driver import); `stream` needs psycopg and is imported on use;
`basics` (LSN text, the unchanged-TOAST placeholder) is what the snapshot path needs. Nothing
is imported here, so that a snapshot starts without pgoutput's message classes.
"""
