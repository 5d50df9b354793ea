"""ledgersync.providers: one package per accounting platform, behind the Provider protocol (base.py)."""

import warnings

import authlib.deprecate  # sets its own "always" filter: must run before ours below

# Authlib 1.9 marks its httpx integration deprecated in favour of a separate "httpx2" package. The integration
# still works on httpx and is what the connectors use: import it once here with the notice silenced, so no
# CLI run prints it. Revisit when Authlib drops the fallback.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import authlib.integrations.httpx_client  # noqa: F401
