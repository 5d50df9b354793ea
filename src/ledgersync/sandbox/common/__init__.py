"""Code the Xero and QuickBooks Online sandboxes share: JSON codec, persistence, control API, webhooks."""
