"""Reporting: each report rendered from data, never from the session that made it.

`terminal` (the llm_eval section), `regression` (the baseline lines and the REGRESSION
section), `repeats` (the per-case lines of repeated cases), `junit` (JUnit XML
properties), `json` (the JSON report), `trace` (the JSONL trace), `html` (the one-file
HTML report, `report.html` its template) and `otel` (OpenTelemetry spans, only with
`--llmeval-otel`).

May import: `pytest_llmeval.records` and `pytest_llmeval.core`, and each other; never
the capture, the judges or the pytest glue (`tests/test_static.py` and
`tests/test_layers.py` check it). Nothing is imported here.
"""
