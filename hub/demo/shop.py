"""The demo's sample database: a small shop (customers, products, orders, order lines) and a
steady stream of writes against it - new orders, status changes, cancellations (deletes that
cascade to the lines), customer edits - in transactions of one to a few statements.

Deterministic for a given seed, so two runs write the same changes.
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

SCHEMA = """
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

TABLES = ("customers", "products", "orders", "order_lines")
MARK = "hub demo sample shop"  # the orders table's comment: the demo may write to it
COUNTRIES = ("DE", "FR", "US", "BR", "JP", "IN", "NG", "SE")
STATUSES = ("placed", "paid", "shipped", "delivered")


def create(conn: Any, *, customers: int = 200, products: int = 50, orders: int = 500) -> None:
    """Create the tables and the first rows (what the initial snapshot will read)."""
    rnd = random.Random(1)
    with conn.transaction():
        conn.execute(SCHEMA)
        conn.execute(f"COMMENT ON TABLE orders IS '{MARK}'")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO customers (name, email, country) VALUES (%s, %s, %s)",
                [(f"Customer {i}", f"c{i}@example.com", rnd.choice(COUNTRIES))
                 for i in range(1, customers + 1)],
            )  # fmt: skip
            cur.executemany(
                "INSERT INTO products (sku, name, price, attributes) VALUES (%s, %s, %s, %s)",
                [(f"SKU-{i:04d}", f"Product {i}", f"{rnd.uniform(1, 500):.2f}",
                  json.dumps({"color": rnd.choice(["red", "blue", "green"]),
                              "weight_g": rnd.randint(10, 5000)}))
                 for i in range(1, products + 1)],
            )  # fmt: skip
    writer = Writer(conn, seed=2, customers=customers, products=products)
    for _ in range(orders):
        writer.new_order()


class Writer:
    """One step of the workload at a time (`step`), or a thread of them (`run`)."""

    def __init__(self, conn: Any, *, seed: int, customers: int, products: int) -> None:
        self.conn = conn
        self.rnd = random.Random(seed)
        self.customers = customers
        self.products = products
        self.transactions = 0
        self.error: Exception | None = None

    def new_order(self) -> None:
        rnd = self.rnd
        lines = [
            (rnd.randint(1, self.products), rnd.randint(1, 5)) for _ in range(rnd.randint(1, 4))
        ]
        with self.conn.transaction():
            (order_id,) = self.conn.execute(
                "INSERT INTO orders (customer_id, status, total) VALUES (%s, 'placed', 0) "
                "RETURNING id", (rnd.randint(1, self.customers),),
            ).fetchone()  # fmt: skip
            for n, (product, qty) in enumerate(lines, 1):
                self.conn.execute(
                    "INSERT INTO order_lines VALUES (%s, %s, %s, %s)", (order_id, n, product, qty)
                )
            self.conn.execute(
                "UPDATE orders SET total = (SELECT sum(l.quantity * p.price) FROM order_lines l "
                "JOIN products p ON p.id = l.product_id WHERE l.order_id = %s) WHERE id = %s",
                (order_id, order_id),
            )
        self.transactions += 1

    def step(self) -> None:
        rnd = self.rnd
        kind = rnd.random()
        if kind < 0.45:
            self.new_order()
            return
        with self.conn.transaction():
            if kind < 0.80:  # move an order along
                self.conn.execute(
                    "UPDATE orders SET status = CASE status WHEN 'placed' THEN 'paid' "
                    "WHEN 'paid' THEN 'shipped' ELSE 'delivered' END, updated_at = now() "
                    "WHERE id = (SELECT id FROM orders WHERE status <> 'delivered' "
                    "ORDER BY random() LIMIT 1)"
                )
            elif kind < 0.90:  # a cancellation: the lines go with it
                self.conn.execute(
                    "DELETE FROM orders WHERE id = (SELECT id FROM orders WHERE status = "
                    "'placed' ORDER BY random() LIMIT 1)"
                )
            elif kind < 0.97:
                self.conn.execute(
                    "UPDATE customers SET email = %s WHERE id = %s",
                    (f"c{rnd.randint(1, 10**6)}@example.org", rnd.randint(1, self.customers)),
                )
            else:  # a price change
                self.conn.execute(
                    "UPDATE products SET price = round(price * %s::numeric, 2) WHERE id = %s",
                    (rnd.choice([0.9, 1.1]), rnd.randint(1, self.products)),
                )
        self.transactions += 1

    def run(self, rate: float, stop: threading.Event) -> None:
        """``rate`` transactions per second until ``stop`` is set; a failure ends the run
        and is kept in ``error``."""
        interval = 1.0 / rate
        next_at = time.monotonic()
        while not stop.is_set():
            try:
                self.step()
            except Exception as exc:  # noqa: BLE001 - reported by the demo
                self.error = exc
                return
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                stop.wait(delay)
