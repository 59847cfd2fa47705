"""`caseloop demo`: the whole loop on embedded defaults, with real components.

A simulated chatbot (public `retrieval` API + the caseloop HTTP API) serves customers from the
bundled Bitext sample over several simulated days; what it cannot answer escalates into a real
django-helpdesk, simulated agents answer there, replies come back by webhook, and each night the
learning flow turns resolved tickets into case summaries the chatbot answers from the next day.
"""

from __future__ import annotations

from flows.demo.errors import DemoError, InvariantBroken, PortInUse
from flows.demo.run import DemoOptions, DemoResult, run_demo

__all__ = ["DemoError", "DemoOptions", "DemoResult", "InvariantBroken", "PortInUse", "run_demo"]
