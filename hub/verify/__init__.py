"""``hub verify``: does each sink table hold exactly the rows of its source table?

Connectors take part through two class methods: a source connector's ``verify_tables(config)``
lists the tables it captures as `SourceTable`\\ s, a sink connector's ``verify_target(config)``
opens a `Target` that finds and reads back the table a topic lands in. Both sides give rows as
tuples of comparable values (`values.py`) in the same column order, so the comparison here
knows no database. See `compare.py` for the algorithm.
"""

from hub.verify.api import Row, SourceTable, Target, TargetTable
from hub.verify.compare import TableResult, compare
from hub.verify.routing import topic_router
from hub.verify.values import EXACT, TEXT_KINDS, comparable, plain

__all__ = [
    "EXACT",
    "TEXT_KINDS",
    "Row",
    "SourceTable",
    "TableResult",
    "Target",
    "TargetTable",
    "comparable",
    "compare",
    "plain",
    "topic_router",
]
