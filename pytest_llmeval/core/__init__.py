"""The infrastructure layer, at the bottom: what every other layer may use.

The one exception hierarchy (`errors`), the one versioned loader (`files`) over the
one atomic writer (`writer`) and the one redactor every written file passes through
(`redact`), the shared `Literal` vocabularies (`vocabulary`), the current-role context
variable (`context`), escaping for terminals and XML (`printable`), the one YAML
reader (`safe_yaml`), the wire formats read as text (`wire`: strict JSON, SSE framing),
the base of every record and file format (`frozen`: frozen, unknown fields refused) and
the models' cheap list default (`factories`).

May import: the standard library, pydantic (`files`, `frozen`), PyYAML (`safe_yaml`)
and each other; never another layer of the plugin. Nothing is imported here.
"""
