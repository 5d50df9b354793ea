"""An emulated QuickBooks Desktop company file and Web Connector (see README.md)."""
