"""Decoding MySQL/MariaDB binlog events: `events` frames and reads event headers, TABLE_MAP
and rows events; `values` decodes one column value of a row image."""
