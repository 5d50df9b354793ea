"""ledgersync: two-way sync between a business application and accounting platforms."""

__version__ = "0.1.0"
