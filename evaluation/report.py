"""The evaluation report: online metrics of a window, replay and retrieval figures, plots.

The report is built as a list of blocks (heading, paragraph, table, image) and rendered to
Markdown or to a self-contained HTML page; the PNG plots sit beside it in the same folder.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation import plots
from evaluation.errors import EvaluationError
from evaluation.online import OnlineReport


@dataclass(frozen=True, slots=True)
class Block:
    """One piece of the report: ``kind`` is heading, text, table or image."""

    kind: str
    content: Any


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _estimate(e: Mapping[str, Any]) -> str:
    if e.get("value") is None:
        return "n/a"
    return f"{_pct(e['value'])} [{_pct(e['low'])}, {_pct(e['high'])}] (n={e['n']})"


def _hours(d: Mapping[str, Any]) -> str:
    if d["median_hours"] is None:
        return "n/a"
    return f"median {d['median_hours']:.1f} h, p90 {d['p90_hours']:.1f} h (n={d['n']})"


def online_blocks(online: OnlineReport, folder: Path) -> list[Block]:
    """The online part: counts, rates, times, review signals, content gaps and two plots."""
    o, t = online.outcomes, online.tickets
    by = o["by_outcome"]
    blocks = [
        Block("heading", "Online metrics"),
        Block("text", f"Window {online.since:%Y-%m-%d %H:%M} – {online.until:%Y-%m-%d %H:%M} UTC: "
                      f"{online.escalations} escalations, {len(online.learning_runs)} learning runs."),
        Block("image", plots.escalations_over_time(online.per_day, online.learning_runs, folder / "escalations_over_time.png")),
        Block("image", plots.by_reason(online.per_week, folder / "escalations_by_reason.png")),
        _drop_by_reason(online),
        Block("table", [["session outcomes", "value"],
                        ["sessions with a reported outcome", str(o["sessions"])],
                        ["escalation rate", _pct(o["escalation_rate"])],
                        ["resolved by the bot, confirmed only", _pct(o["resolution_rate_confirmed"])],
                        ["resolved by the bot, confirmed + assumed (lenient)", _pct(o["resolution_rate_with_assumed"])],
                        *[[name, str(count)] for name, count in by.items()]]),
        Block("table", [["tickets", "value"],
                        ["time to first agent reply", _hours(t["first_agent_reply"])],
                        ["time to resolution", _hours(t["resolution"])],
                        ["reopen rate", f"{_pct(t['reopen_rate'])} ({t['reopened']} of {t['resolved']})"]]),
        Block("heading", "Case summaries served and still followed by an escalation (review them)"),
        Block("table", [["case id", "sessions"], *[[c, str(n)] for c, n in list(online.served_then_escalated.items())[:20]]])
        if online.served_then_escalated else Block("text", "None in this window."),
        Block("heading", "Content gaps: no-evidence escalations with no case summary"),
        Block("table", [["topic", "escalations", "examples"],
                        *[[g.label, str(g.size), " | ".join(g.examples)] for g in online.gaps[:15]]])
        if online.gaps else Block("text", "No group of two or more similar questions."),
    ]  # fmt: skip
    return blocks


def _drop_by_reason(online: OnlineReport) -> Block:
    """First against last week of the window, per reason: where escalations dropped or grew."""
    weeks = online.per_week
    if len(weeks) < 2:
        return Block("text", "Drop by reason needs at least two weeks in the window.")
    first, last = weeks.iloc[0], weeks.iloc[-1]
    rows = [
        [
            "reason",
            f"week of {weeks.index[0].date()}",
            f"week of {weeks.index[-1].date()}",
            "change",
        ]
    ]
    for reason in weeks.columns:
        change = _pct((last[reason] - first[reason]) / first[reason]) if first[reason] else "n/a"
        rows.append([str(reason), str(int(first[reason])), str(int(last[reason])), change])
    return Block("table", rows)


FIGURE_ROWS = ("escalation_rate_with", "escalation_drop", "answered_precision",
               "wrong_answer_rate", "no_match_escalated", "correct_drop")  # fmt: skip


def _points(e: Mapping[str, Any] | None, digits: int = 1) -> str:
    """A difference in percentage points with its interval."""
    if not e or e.get("value") is None:
        return ""
    v, lo, hi = (100 * e[k] for k in ("value", "low", "high"))
    return f"{v:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def escalation_tables(figures: Mapping[str, Any]) -> list[Block]:
    """The operating point beside each retriever's baseline and the paired differences, the
    promise, and each fold (shared by the report and `caseloop eval escalation`)."""
    bm25, diffs = figures["baselines"]["bm25"], figures["differences"]
    rows = [
        [
            "figure (95% bootstrap interval)",
            "caseloop",
            "top-1 cosine baseline",
            "top-1 BM25 baseline",
            "caseloop − cosine (points)",
            "caseloop − BM25 (points)",
        ]
    ]
    rows += [[n, _estimate(figures[n]), _estimate(figures["baseline"][n]), _estimate(bm25[n]),
              _points(diffs["dense"].get(n)), _points(diffs["bm25"].get(n))]
             for n in FIGURE_ROWS]  # fmt: skip
    p, right = figures["promise"], figures["top_hit_right"]
    folds = [["fold", "queries", "answered", "precision", "held", "no-match",
              "no-match escalated", "guard held"]]  # fmt: skip
    folds += [[str(f["fold"]), str(f["queries"]), str(f["answered"]), _pct(f["precision"]),
               "yes" if f["held"] else "NO", str(f["no_match"]), _pct(f["no_match_escalated"]),
               "yes" if f["guard_held"] else "NO"] for f in figures["folds"]]  # fmt: skip
    return [
        Block("table", rows),
        Block("text", f"Verdicts: {dict(figures['reasons'])}. Top hit relevant: the verdict's "
                      f"{_pct(right['verdict_top_hit'])}, dense top-1 {_pct(right['dense_top_1'])}, "
                      f"BM25 top-1 {_pct(right.get('bm25_top_1'))}."),
        Block("text", f"Promise: answered precision ≥ {_pct(p['target_precision'])} with "
                      f"{_pct(p['confidence_level'])} confidence held in {p['precision_held']} of "
                      f"{p['folds']} folds; no-match guard ({_pct(p['no_match_escalation'])} of "
                      f"no-match queries escalated) held in {p['guard_held']} of {p['folds']}. "
                      "Each fold is scored by a policy fitted on the other folds:"),
        Block("table", folds),
    ]  # fmt: skip


def escalation_blocks(figures: Mapping[str, Any], folder: Path) -> list[Block]:
    """The replay part: the tables, the coverage/precision curve, the verdicts."""
    return [
        Block("heading", "Escalation replay"),
        Block("text", f"{figures['n_queries']} queries ({figures['n_no_match']} with no relevant "
                      f"case visible when asked), target precision {figures['target_precision']}, "
                      f"{figures['calibration']}. Without caseloop every query escalated."),
        *escalation_tables(figures),
        Block("image", plots.coverage_precision(figures, folder / "coverage_precision.png")),
        Block("image", plots.verdict_reasons(figures["reasons"], folder / "verdict_reasons.png")),
    ]  # fmt: skip


RETRIEVAL_METRICS = ("map", "mrr", "p@1", "p@5", "recall@5", "recall@10", "ndcg@10", "official_map")


def retrieval_tables(figures: Mapping[str, Any]) -> list[Block]:
    """One row per retriever; then hybrid minus each retriever alone, with paired intervals."""
    rows = [["retriever", *RETRIEVAL_METRICS, "n_queries"]]
    for retriever, row in figures.items():
        rows.append([retriever, *(f"{100 * row[n]:.2f}" for n in RETRIEVAL_METRICS),
                     str(row["n_queries"])])  # fmt: skip
    blocks = [Block("table", rows)]
    hybrid = figures.get("hybrid", {})
    against = [key for key in ("vs_dense", "vs_bm25") if key in hybrid]
    if against:
        diff = [["metric (points, paired 95% interval)", *(f"hybrid − {k[3:]}" for k in against)]]
        diff += [[m, *(_points(hybrid[k][m], 2) for k in against)] for m in hybrid[against[0]]]
        blocks.append(Block("table", diff))
    return blocks


def retrieval_blocks(figures: Mapping[str, Any]) -> list[Block]:
    """The retrieval part."""
    return [Block("heading", "Retrieval quality"), *retrieval_tables(figures)]


def render_markdown(title: str, blocks: Sequence[Block], folder: Path) -> str:
    lines = [f"# {title}", ""]
    for block in blocks:
        if block.kind == "heading":
            lines += [f"## {block.content}", ""]
        elif block.kind == "text":
            lines += [block.content, ""]
        elif block.kind == "image":
            lines += [
                f"![{block.content.stem}]({block.content.relative_to(folder).as_posix()})",
                "",
            ]
        else:
            header, *body = block.content
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
            lines.append("")
    return "\n".join(lines)


def render_html(title: str, blocks: Sequence[Block], folder: Path) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:auto}td,th{padding:2px 8px;"
             "border-bottom:1px solid #ddd;text-align:left}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]  # fmt: skip
    for block in blocks:
        if block.kind == "heading":
            parts.append(f"<h2>{html.escape(block.content)}</h2>")
        elif block.kind == "text":
            parts.append(f"<p>{html.escape(block.content)}</p>")
        elif block.kind == "image":
            src = html.escape(block.content.relative_to(folder).as_posix())
            parts.append(f"<p><img src='{src}' alt='{html.escape(block.content.stem)}'></p>")
        else:
            header, *body = block.content
            parts.append(
                "<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in header) + "</tr>"
            )
            parts += [
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in body
            ]
            parts.append("</table>")
    return "\n".join([*parts, "</body></html>\n"])


def write_report(
    folder: Path | str,
    *,
    online: OnlineReport | None = None,
    escalation: Mapping[str, Any] | None = None,
    retrieval: Mapping[str, Any] | None = None,
    fmt: str = "md",
    title: str = "caseloop evaluation report",
) -> Path:
    """Write ``report.md`` (or ``report.html``) and its PNG plots into ``folder``."""
    if fmt not in ("md", "html"):
        raise EvaluationError(f"format: {fmt!r} is not md or html")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    blocks = [Block("text", f"Generated {stamp}.")]
    try:
        if escalation is not None:
            blocks += escalation_blocks(escalation, folder)
        if retrieval is not None:
            blocks += retrieval_blocks(retrieval)
    except (KeyError, TypeError) as exc:
        raise EvaluationError(f"replay figures: missing or malformed {exc}") from exc
    if online is not None:
        blocks += online_blocks(online, folder)
    render = render_markdown if fmt == "md" else render_html
    path = folder / f"report.{fmt}"
    path.write_text(render(title, blocks, folder), encoding="utf-8")
    return path
