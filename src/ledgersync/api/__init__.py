"""ledgersync.api."""
