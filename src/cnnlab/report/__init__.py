"""Self-contained HTML reports built from sections, and the ``cnnlab demo`` job.

A demo section is a function ``(DemoContext) -> Section`` registered in ``DEMO_SECTIONS``; the modules
``report/_section_*.py`` are imported by :func:`run_demo`, so a capability adds its part of the report in a
file of its own without touching the others.

Example:
    >>> from cnnlab.report import run_demo
    >>> result = run_demo("cnnlab-demo")  # doctest: +SKIP
"""

from cnnlab.report._demo import (
    DEMO_SECTIONS,
    DemoContext,
    DemoResult,
    describe_model,
    is_trained,
    register_section,
    run_demo,
)
from cnnlab.report._html import (
    Report,
    Section,
    escape,
    figure_to_data_uri,
    image_to_data_uri,
    note,
    save_image,
)
from cnnlab.report._section_claims import claims_page, claims_report

__all__ = [
    "DEMO_SECTIONS",
    "DemoContext",
    "DemoResult",
    "Report",
    "Section",
    "claims_page",
    "claims_report",
    "describe_model",
    "escape",
    "figure_to_data_uri",
    "image_to_data_uri",
    "is_trained",
    "note",
    "register_section",
    "run_demo",
    "save_image",
]
