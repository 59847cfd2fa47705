"""The evaluation package's exceptions: one root, raised with a message a data scientist can act on.

    EvaluationError
    ├── DataError             a line of a cases/queries file is invalid (file, line, field, problem)
    ├── ConversionError       a source data set cannot be read or converted (file, what is wrong)
    └── ReplayError           a replay or metric cannot run on the data given (no queries, bad folds)

Library errors (pydantic, json, csv, XML, SQLAlchemy) are translated at the boundary.
"""

from __future__ import annotations

from pathlib import Path


class EvaluationError(Exception):
    """Root of every error raised by the evaluation package."""


class DataError(EvaluationError):
    """A record of an evaluation file is invalid; carries where and what."""

    def __init__(self, path: Path | str, line: int, field: str, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = problem
        super().__init__(f"{self.path}:{line}: {field}: {problem}")


class ConversionError(EvaluationError):
    """A source data set cannot be read or converted."""


class ReplayError(EvaluationError):
    """A replay or a metric cannot run on the data it was given."""
