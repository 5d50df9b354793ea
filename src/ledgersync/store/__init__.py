"""ledgersync.store."""
