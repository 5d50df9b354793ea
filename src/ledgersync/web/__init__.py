"""ledgersync.web."""
