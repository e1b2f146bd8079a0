"""Recording and replay of HTTP traffic ("cassettes") for eval tests.

Modules, in the order data flows: `intercept` patches the httpx/httpx2 transports while
a session is installed and routes each call, through its `InterceptedSession` protocol,
to `session.CassetteSession`, which reports each exchange to one `ExchangeObserver`;
`streams` tees live bodies and serves recorded ones; `calls` holds the values passed
between them; `match` canonicalises requests (secrets are redacted by `core.redact`); `models`
is the file format; `store` names, reads and writes files; `pending` keeps recordings a
cassette could not take; `cache` is the optional cross-test response cache; `vcr`
imports vcrpy cassettes. Nothing is imported here, so importing the package costs nothing.
"""
