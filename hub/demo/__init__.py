"""``hub demo``: a throwaway PostgreSQL (`postgres`) or MariaDB (`mariadb`), the sample shop
(`shop`, on either through `dialects`) and the run that replicates it into DuckDB and checks
the result (`job`)."""
