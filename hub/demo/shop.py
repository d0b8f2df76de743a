"""The demo's sample database: a small shop (customers, products, orders, order lines) and a
steady stream of writes against it - new orders, status changes, cancellations (the order
and its lines deleted), customer edits - in transactions of one to a few statements.

Deterministic for a given seed, so two runs write the same changes. The same workload runs
on PostgreSQL and MariaDB: it talks to a `hub.demo.dialects.ShopDatabase`, which supplies the
schema and the few SQL spellings that differ.
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

from hub.demo.dialects import MARK, ShopDatabase, as_shop_database

__all__ = ["COUNTRIES", "MARK", "STATUSES", "TABLES", "Writer", "create"]

TABLES = ("customers", "products", "orders", "order_lines")
COUNTRIES = ("DE", "FR", "US", "BR", "JP", "IN", "NG", "SE")
STATUSES = ("placed", "paid", "shipped", "delivered")


def create(conn: Any, *, customers: int = 200, products: int = 50, orders: int = 500) -> None:
    """Create the tables and the first rows (what the initial snapshot will read). ``conn``:
    a `ShopDatabase`, or a psycopg connection."""
    db = as_shop_database(conn)
    rnd = random.Random(1)
    with db.transaction():
        db.create_schema()
        db.executemany(
            "INSERT INTO customers (name, email, country) VALUES (%s, %s, %s)",
            [(f"Customer {i}", f"c{i}@example.com", rnd.choice(COUNTRIES))
             for i in range(1, customers + 1)],
        )  # fmt: skip
        db.executemany(
            "INSERT INTO products (sku, name, price, attributes) VALUES (%s, %s, %s, %s)",
            [(f"SKU-{i:04d}", f"Product {i}", f"{rnd.uniform(1, 500):.2f}",
              json.dumps({"color": rnd.choice(["red", "blue", "green"]),
                          "weight_g": rnd.randint(10, 5000)}))
             for i in range(1, products + 1)],
        )  # fmt: skip
    writer = Writer(db, seed=2, customers=customers, products=products)
    for _ in range(orders):
        writer.new_order()


class Writer:
    """One step of the workload at a time (`step`), or a thread of them (`run`). ``conn``: a
    `ShopDatabase`, or a psycopg connection."""

    def __init__(self, conn: Any, *, seed: int, customers: int, products: int) -> None:
        self.db: ShopDatabase = as_shop_database(conn)
        self.rnd = random.Random(seed)
        self.customers = customers
        self.products = products
        self.transactions = 0
        self.error: Exception | None = None

    def new_order(self) -> None:
        rnd, db = self.rnd, self.db
        lines = [
            (rnd.randint(1, self.products), rnd.randint(1, 5)) for _ in range(rnd.randint(1, 4))
        ]
        with db.transaction():
            order_id = db.insert_id(
                "INSERT INTO orders (customer_id, status, total) VALUES (%s, 'placed', 0)",
                (rnd.randint(1, self.customers),),
            )
            for n, (product, qty) in enumerate(lines, 1):
                db.execute(
                    "INSERT INTO order_lines VALUES (%s, %s, %s, %s)", (order_id, n, product, qty)
                )
            db.execute(
                "UPDATE orders SET total = (SELECT sum(l.quantity * p.price) FROM order_lines l "
                "JOIN products p ON p.id = l.product_id WHERE l.order_id = %s) WHERE id = %s",
                (order_id, order_id),
            )
        self.transactions += 1

    def step(self) -> None:
        rnd, db = self.rnd, self.db
        kind = rnd.random()
        if kind < 0.45:
            self.new_order()
            return
        with db.transaction():
            if kind < 0.80:  # move an order along
                order = self._one_order("status <> 'delivered'")
                if order is not None:
                    db.execute(
                        "UPDATE orders SET status = CASE status WHEN 'placed' THEN 'paid' "
                        "WHEN 'paid' THEN 'shipped' ELSE 'delivered' END, updated_at = now() "
                        f"WHERE id = {order[0]}",
                        order[1],
                    )
            elif kind < 0.90:  # a cancellation: the lines go with it
                self._cancel()
            elif kind < 0.97:
                db.execute(
                    "UPDATE customers SET email = %s WHERE id = %s",
                    (f"c{rnd.randint(1, 10**6)}@example.org", rnd.randint(1, self.customers)),
                )
            else:  # a price change
                db.execute(
                    f"UPDATE products SET price = round(price * {db.decimal}, 2) WHERE id = %s",
                    (rnd.choice([0.9, 1.1]), rnd.randint(1, self.products)),
                )
        self.transactions += 1

    def _one_order(self, where: str) -> tuple[str, tuple[Any, ...]] | None:
        """A random order matching ``where``: SQL for its id and the parameters that go
        with it, or None when there is none. A subquery where the dialect evaluates it once
        (PostgreSQL); else the id read first (MariaDB runs a rand() subquery again to check
        the row it found, and then usually finds nothing)."""
        pick = f"SELECT id FROM orders WHERE {where} ORDER BY {self.db.random} LIMIT 1"
        if self.db.subquery_once:
            return f"({pick})", ()
        found = self.db.execute(f"{pick} FOR UPDATE")
        return None if found is None else ("%s", found)

    def _cancel(self) -> None:
        order = self._one_order("status = 'placed'")
        if order is None:
            return
        if not self.db.cascades:
            self.db.execute(f"DELETE FROM order_lines WHERE order_id = {order[0]}", order[1])
        self.db.execute(f"DELETE FROM orders WHERE id = {order[0]}", order[1])

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
