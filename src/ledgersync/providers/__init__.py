"""ledgersync.providers: one package per accounting platform, behind the Provider protocol (base.py)."""

import warnings

# Authlib 1.9 marks its httpx integration deprecated in favour of an "httpx2" package; the integration still
# works and is what the connectors use today. Keep the notice out of every CLI run; revisit on Authlib 2.
warnings.filterwarnings("ignore", message="The httpx module is deprecated", module="authlib")
