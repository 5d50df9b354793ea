"""ledgersync.providers.xero."""
