"""ledgersync.sandbox."""
