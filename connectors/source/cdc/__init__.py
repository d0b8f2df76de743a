"""What every change-data-capture source shares, whatever its database: when to snapshot
(`snapshotters`), the Debezium envelope and its schemas (`envelope`), topic names
(`topics`), table and column filters (`filters`), heartbeats (`heartbeat`), the type handling
modes (`modes`) and the Debezium properties every connector has (`config`)."""
