"""ledgersync.engine."""
