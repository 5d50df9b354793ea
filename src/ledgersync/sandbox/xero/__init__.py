"""ledgersync.sandbox.xero."""
