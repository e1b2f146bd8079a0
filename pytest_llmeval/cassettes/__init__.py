"""Recording and replay of HTTP traffic ("cassettes") for eval tests.

Modules, in the order data flows: `intercept` patches the httpx/httpx2 transports while
a `session.CassetteSession` is started; `match` canonicalises requests; `redact` keeps
secrets off disk; `models` is the file format; `store` names, reads and writes files;
`cache` is the optional cross-test response cache; `vcr` imports vcrpy cassettes.
Nothing is imported here, so importing the package costs nothing.
"""
