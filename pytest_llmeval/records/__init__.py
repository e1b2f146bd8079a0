"""Records and maths: what a run produced, and what it means. Pure: no pytest.

The pydantic records and file formats (`models`; one model call's, `Inference`, in
`inference_models`), the marker's `EvalSpec` (`spec`),
a test's score (`outcome`), group and session aggregates (`aggregate`, `accounting`),
the baseline file (`baseline`) and the comparison with it (`comparison`), the gate's
rules (`decision`), variants of one eval compared on its cases (`variants`),
the statistics under them (`stats`), datasets and their assertions
(`cases`, `assertions`), a judge's agreement with labels or another judge
(`calibration`), an agent's episode (`trajectory`), a driven conversation
(`conversation`), fault rules and the attempts behind a logical call (`injection`,
`attempts`) and the frozen `SessionOutcome` every reporter renders (`session_outcome`).

May import: `pytest_llmeval.core` and each other. Nothing is imported here.
"""
