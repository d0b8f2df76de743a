"""Wire decoding for the PostgreSQL source: pgoutput messages and the replication stream.

`pgoutput` is pure (no driver import); `stream` needs psycopg and is imported on use.
"""

from connectors.source.postgres.protocol.pgoutput import (
    UNCHANGED_TOAST,
    Message,
    PgOutputError,
    decode,
    decode_copy_data,
    encode_standby_status,
    lsn_to_str,
    str_to_lsn,
)

__all__ = [
    "UNCHANGED_TOAST",
    "Message",
    "PgOutputError",
    "decode",
    "decode_copy_data",
    "encode_standby_status",
    "lsn_to_str",
    "str_to_lsn",
]
