"""caseloop's evaluation: how much escalations drop, measured honestly, for data scientists.

- data: `load_dataset` reads the JSON Lines format (`cases.jsonl`, `queries.jsonl`, see
  `docs/evaluation.md`); converters write it from BANKING77, Bitext, SemEval-2016 and the store;
- retrieval quality: `evaluate_retrieval` (MAP, MRR, P@k, Recall@k, nDCG@10 via ranx; hybrid
  minus each retriever with paired bootstrap intervals); `evaluation.tuning` chooses the fusion
  rule by its worst case over every labelled set;
- escalation drop: `escalation_replay` (time-ordered, cross-fitted, bootstrap intervals, whether
  the precision promise and the no-match guard held per fold, each retriever as a baseline) and
  `escalation_drop` (two periods of live conversations, e.g. the demo's first and last day);
- online metrics: `online_metrics` from the operational store; reports: `write_report`.

Imports `retrieval` through its public API and reads the store with SQLAlchemy Core; never
imports the ingestion package.
"""

from evaluation.bootstrap import Estimate, bootstrap_ratios
from evaluation.converters.banking77 import convert_banking77
from evaluation.converters.bitext import convert_bitext
from evaluation.converters.intent_split import SplitPlan
from evaluation.converters.semeval import convert_semeval
from evaluation.converters.store import convert_store
from evaluation.dataset import (
    Case,
    Dataset,
    Query,
    load_cases,
    load_dataset,
    load_queries,
    write_dataset,
)
from evaluation.drop import Drop, escalation_drop
from evaluation.errors import ConversionError, DataError, EvaluationError, ReplayError
from evaluation.escalation import EscalationReport, escalation_replay
from evaluation.gaps import ContentGap, content_gaps
from evaluation.metrics import RankingScores, official_map, ranking_scores
from evaluation.online import OnlineReport, online_metrics
from evaluation.quality import RetrievalReport, evaluate_retrieval
from evaluation.replay import ReplayStep, replay
from evaluation.report import write_report

__all__ = [
    "Case",
    "ContentGap",
    "ConversionError",
    "DataError",
    "Dataset",
    "Drop",
    "EscalationReport",
    "Estimate",
    "EvaluationError",
    "OnlineReport",
    "Query",
    "RankingScores",
    "ReplayError",
    "ReplayStep",
    "RetrievalReport",
    "SplitPlan",
    "bootstrap_ratios",
    "content_gaps",
    "convert_banking77",
    "convert_bitext",
    "convert_semeval",
    "convert_store",
    "escalation_drop",
    "escalation_replay",
    "evaluate_retrieval",
    "load_cases",
    "load_dataset",
    "load_queries",
    "official_map",
    "online_metrics",
    "ranking_scores",
    "replay",
    "write_dataset",
    "write_report",
]
