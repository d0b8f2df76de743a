"""``hub demo``: a throwaway PostgreSQL (`postgres`), the sample shop (`shop`) and the run
that replicates it into DuckDB and checks the result (`job`)."""
