"""ledgersync.providers."""
