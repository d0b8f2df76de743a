"""The sample shop's database in each dialect the demo speaks: how to run a statement, open a
transaction and get a new row's id, the few SQL spellings that differ, and the schema.

`shop.Writer` holds the workload and talks only to a `ShopDatabase`; `PostgresShop` wraps a
psycopg connection, `MariaDBShop` a PyMySQL one. Both place parameters with ``%s``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

MARK = "hub demo sample shop"  # the orders table's comment: the demo may write to it

POSTGRES_SCHEMA = """
CREATE TABLE customers (
    id          serial PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL,
    country     char(2),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE products (
    id          serial PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    name        text NOT NULL,
    price       numeric(10,2) NOT NULL,
    attributes  jsonb
);
CREATE TABLE orders (
    id          bigserial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers,
    status      text NOT NULL,
    total       numeric(12,2) NOT NULL,
    placed_at   timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE order_lines (
    order_id    bigint NOT NULL REFERENCES orders ON DELETE CASCADE,
    line        int NOT NULL,
    product_id  int NOT NULL REFERENCES products,
    quantity    int NOT NULL,
    PRIMARY KEY (order_id, line)
);
"""

# The same tables. No ON DELETE CASCADE: MariaDB and MySQL leave the rows a foreign key
# cascade deletes out of the binlog, so a CDC source never sees them go; the workload deletes
# an order's lines itself (`ShopDatabase.cascades`), and the plain foreign key makes a
# forgotten line an error instead of a silent difference.
MARIADB_SCHEMA = (
    """
CREATE TABLE customers (
    id          int AUTO_INCREMENT PRIMARY KEY,
    name        varchar(100) NOT NULL,
    email       varchar(200) NOT NULL,
    country     char(2),
    created_at  timestamp(6) NOT NULL DEFAULT current_timestamp(6)
)""",
    """
CREATE TABLE products (
    id          int AUTO_INCREMENT PRIMARY KEY,
    sku         varchar(20) NOT NULL UNIQUE,
    name        varchar(100) NOT NULL,
    price       decimal(10,2) NOT NULL,
    attributes  json
)""",
    f"""
CREATE TABLE orders (
    id          bigint AUTO_INCREMENT PRIMARY KEY,
    customer_id int NOT NULL,
    status      varchar(20) NOT NULL,
    total       decimal(12,2) NOT NULL,
    placed_at   timestamp(6) NOT NULL DEFAULT current_timestamp(6),
    updated_at  timestamp(6) NOT NULL DEFAULT current_timestamp(6),
    FOREIGN KEY (customer_id) REFERENCES customers (id)
) COMMENT '{MARK}'""",
    """
CREATE TABLE order_lines (
    order_id    bigint NOT NULL,
    line        int NOT NULL,
    product_id  int NOT NULL,
    quantity    int NOT NULL,
    PRIMARY KEY (order_id, line),
    FOREIGN KEY (order_id) REFERENCES orders (id),
    FOREIGN KEY (product_id) REFERENCES products (id)
)""",
)


class ShopDatabase(Protocol):
    """One connection to the shop's database, as the workload needs it."""

    label: str  # the server's name for people: "PostgreSQL", "MariaDB"
    random: str  # SQL for a random number in [0, 1)
    decimal: str  # a placeholder for an exact decimal parameter
    cascades: bool  # deleting an order deletes its lines, in the change stream too
    subquery_once: bool  # an uncorrelated subquery with random() picks one row per statement

    def create_schema(self) -> None: ...

    def transaction(self) -> Any: ...  # a context manager: commit on exit, roll back on error

    def execute(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """Run one statement; its first row, if it returns rows."""
        ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def insert_id(self, sql: str, params: Sequence[Any]) -> int:
        """Run an INSERT of one row into a table keyed by a generated ``id``; that id."""
        ...


class PostgresShop:
    label = "PostgreSQL"
    random = "random()"
    decimal = "%s::numeric"
    cascades = True
    subquery_once = True

    def __init__(self, conn: Any) -> None:
        self.conn = conn  # psycopg.Connection

    def create_schema(self) -> None:
        self.conn.execute(POSTGRES_SCHEMA)
        self.conn.execute(f"COMMENT ON TABLE orders IS '{MARK}'")

    def transaction(self) -> Any:
        return self.conn.transaction()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        cur = self.conn.execute(sql, params or None)
        return cur.fetchone() if cur.description is not None else None

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(sql, rows)

    def insert_id(self, sql: str, params: Sequence[Any]) -> int:
        (new_id,) = self.conn.execute(f"{sql} RETURNING id", params).fetchone()
        return int(new_id)


class MariaDBShop:
    label = "MariaDB"
    random = "rand()"
    decimal = "CAST(%s AS DECIMAL(4,2))"  # PyMySQL sends a float as a double (0.9e0)
    cascades = False
    subquery_once = False  # rand() makes it UNCACHEABLE: evaluated again for each check

    def __init__(self, conn: Any) -> None:
        self.conn = conn  # pymysql.Connection, autocommit on

    def create_schema(self) -> None:
        for statement in MARIADB_SCHEMA:
            self.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.begin()
        try:
            yield
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self.conn.cursor() as cur:
            cur.execute(sql, tuple(params))
            return cur.fetchone() if cur.description is not None else None

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(sql, [tuple(r) for r in rows])

    def insert_id(self, sql: str, params: Sequence[Any]) -> int:
        with self.conn.cursor() as cur:
            cur.execute(sql, tuple(params))
            return int(cur.lastrowid)


def as_shop_database(conn: Any) -> ShopDatabase:
    """``conn`` itself when it is a `ShopDatabase`; a psycopg connection wrapped."""
    if isinstance(conn, (PostgresShop, MariaDBShop)):
        return conn
    return PostgresShop(conn)
