"""PostgreSQL source: logical replication (pgoutput) change data capture."""
