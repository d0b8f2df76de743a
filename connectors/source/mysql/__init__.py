"""The MySQL/MariaDB source (in progress): binlog decoding in ``protocol``; the connector
itself comes with the shared CDC core (issue 13)."""
