"""Writes the run report: OUTPUT/report/runs/<run id>/index.html with its PNG plots and the
data behind it (report.json), and a copy of the latest one at OUTPUT/report/index.html.

The page is self-contained: inline CSS, no scripts, images referenced by relative file
names, so it opens from disk without a network. Rendered with Jinja2 (autoescaped).
"""
import dataclasses
import json
import os
import re
import shutil
from typing import Dict, List, Optional

import jinja2

from pipeline.report import decision, tuning
from pipeline.report.model import (CANDIDATE, LAST_BLESSED, OVERALL, ReliabilityBin,
                                   ReportData, SliceMetrics, length_summary)
from trainer.label_order import in_id_order

REPORT_DIR = "report"
RUNS_DIR = "runs"
INDEX = "index.html"
DATA_FILE = "report.json"


def report_root(output_dir: str) -> str:
    return os.path.join(output_dir, REPORT_DIR)


def run_report_dir(output_dir: str, run_id: str) -> str:
    # MLMD run ids are timestamps ("2024-05-01T12:34:56.123456"); keep them readable but safe.
    return os.path.join(report_root(output_dir), RUNS_DIR, re.sub(r"[^A-Za-z0-9._-]", "_", run_id))


def write_report(data: ReportData, output_dir: str, latest: bool = True) -> str:
    """Writes the run's report; with `latest`, also as OUTPUT/report/index.html. Returns the
    path of the run's own index.html."""
    run_dir = run_report_dir(output_dir, data.run_id)
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    images = _draw(data, run_dir)
    html = render(data, images)
    with open(os.path.join(run_dir, INDEX), "w", encoding="utf-8") as f:
        f.write(html)
    with open(os.path.join(run_dir, DATA_FILE), "w", encoding="utf-8") as f:
        json.dump(dataclasses.asdict(data), f, indent=1)
    if latest:
        _publish_latest(run_dir, report_root(output_dir))
    return os.path.join(run_dir, INDEX)


def _publish_latest(run_dir: str, root: str) -> None:
    for name in os.listdir(root):
        if name.endswith(".png") or name in (INDEX, DATA_FILE):
            os.remove(os.path.join(root, name))
    for name in os.listdir(run_dir):
        shutil.copy2(os.path.join(run_dir, name), os.path.join(root, name))


def _draw(data: ReportData, out_dir: str) -> Dict[str, object]:
    # matplotlib takes 1-2 s to import: only for drawing, not for `runs` or `report --out`,
    # which read this module's paths.
    from pipeline.report import plots
    return {
        "data": plots.data_summary(data, out_dir),
        "training": plots.training_curves(data, out_dir),
        "tuning": plots.tuning_trials(data, out_dir),
        "confusion": [(role, plots.confusion_matrix(role, matrix, out_dir))
                      for role, matrix in _in_role_order(data, data.confusion)],
        "calibration": plots.reliability(*_reliability(data), out_dir),
    }


def _reliability(data: ReportData):
    """(bins, x-axis label, y-axis label, title) of the report's reliability diagram: the
    candidate's top-label bins from its predictions, else TFMA's calibration histogram of one
    class regrouped into ten bins."""
    p = data.predictions
    if p is not None and p.view.confidence is None:
        return [], "", "", ""  # no probability that a prediction is right: nothing to draw
    if p is not None and p.reliability:
        return (p.reliability, p.view.confidence, "accuracy (share predicted correctly)",
                f"Reliability of the candidate ({p.predicted:,} eval examples)")
    buckets = data.calibration.get(CANDIDATE) or []
    bins = []
    for i in range(10):
        inside = [b for b in buckets if i / 10 <= b.mean_prediction < (i + 1) / 10
                  or (i == 9 and b.mean_prediction >= 1)]
        count = sum(b.count for b in inside)
        if count:
            bins.append(ReliabilityBin(
                i / 10, (i + 1) / 10, int(round(count)),
                sum(b.mean_prediction * b.count for b in inside) / count,
                sum(b.mean_label * b.count for b in inside) / count))
    label = data.calibration_label or "the class"
    return (bins, f"predicted probability of {label}", f"observed share of {label}",
            "Calibration of the candidate (eval split)")


def _in_role_order(data: ReportData, by_role: Dict[str, object]):
    order = data.roles() + [r for r in by_role if r not in data.models]
    return [(role, by_role[role]) for role in order if role in by_role]


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != value:  # NaN
            return "nan"
        if value.is_integer() and abs(value) >= 1:
            return f"{int(value):,}"
        return f"{value:.4f}"
    return str(value)


def _binary(data: ReportData, names: List[str]) -> bool:
    classes = {n.partition("/class_")[2] for n in names if "/class_" in n}
    return len(data.label_names) == 2 or (not data.label_names and classes == {"0", "1"})


def _shown_metrics(data: ReportData, names: List[str]) -> List[str]:
    """Without duplicates: a binary task's AUC of class 0 is its AUC of class 1."""
    if _binary(data, names) and "auc/class_1" in names:
        return [n for n in names if n != "auc/class_0"]
    return names


def _label(data: ReportData, name: str, names: List[str]) -> str:
    if name == "auc/class_1" and "auc/class_0" not in names and _binary(data, names + [name]):
        return "AUC"
    label = data.metric_label(name)
    return label + (" (lower is better)" if decision.higher_is_better(name) is False else "")


def _num(value) -> str:
    """A metric's value: four decimals (1.0000, not 1)."""
    if value is None:
        return "–"
    return f"{value:.4f}" if isinstance(value, float) and value == value else _fmt(value)


def _metrics_rows(data: ReportData) -> List[dict]:
    """One row per metric: its value for each role and the candidate's difference to each,
    "better" or "worse" by the metric's direction."""
    roles = data.roles()
    names: List[str] = []
    for role in roles:
        names += [n for n in data.models[role] if n not in names]
    names = _shown_metrics(data, names)
    names.sort(key=lambda n: (n == "example_count", "/class_" in n, n))
    candidate = data.models.get(CANDIDATE, {})
    rows = []
    for name in names:
        values = [data.models[role].get(name) for role in roles]
        diffs = []
        for role in roles[1:]:
            other = data.models[role].get(name)
            mine = candidate.get(name)
            diff = (None if other is None or mine is None or name == "example_count"
                    else mine - other)
            diffs.append({"value": diff, "class": decision.comparison(name, diff)})
        rows.append({"name": _label(data, name, names), "values": values, "diffs": diffs,
                     "count": name == "example_count"})
    return rows


def _slice_rows(data: ReportData):
    """(roles, the non-per-class metric columns shared by the slices, rows (slice, role), the
    indexes of the count columns)."""
    if not data.slices:
        return [], [], [], []
    by_name = {s.name: s for s in data.slices}
    slices = [SliceMetrics(OVERALL, data.models)] + [
        by_name[n] for n in decision.slice_order(list(by_name)) if n != OVERALL]
    names: List[str] = []
    for s in slices:
        for metrics in s.metrics.values():
            names += [n for n in metrics if n not in names and "/class_" not in n]
    names.sort(key=lambda n: (n != "example_count", n))
    roles = data.roles() or sorted({r for s in data.slices for r in s.metrics})
    rows = []
    for s in slices:
        for role in roles + [r for r in s.metrics if r not in roles]:
            if role in s.metrics:
                rows.append({"slice": s.name, "role": role,
                             "values": [s.metrics[role].get(n) for n in names]})
    return roles, [_label(data, n, names) for n in names], rows, \
        [i for i, n in enumerate(names) if n == "example_count"]


def render(data: ReportData, images: Dict[str, object]) -> str:
    roles = data.roles()
    slice_roles, slice_names, slice_rows, slice_counts = _slice_rows(data)
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["fmt"] = _fmt
    env.filters["num"] = _num
    env.filters["signed"] = lambda v: "–" if v is None else f"{v:+.4f}"
    return env.from_string(_TEMPLATE).render(
        d=data, roles=roles, metric_rows=_metrics_rows(data), images=images,
        last_blessed=LAST_BLESSED,
        lengths={split: length_summary(v) for split, v in sorted(data.text_lengths.items())},
        label_splits=sorted(data.label_counts),
        labels=in_id_order({l for c in data.label_counts.values() for l in c}, data.label_names),
        slice_names=slice_names, slice_rows=slice_rows, slice_counts=slice_counts,
        overall=OVERALL,
        history_rows=_history_rows(data.history), verdict=decision.verdict(data),
        headline=decision.banner_rows(data), warnings=decision.warnings(data),
        rule_rows=decision.rule_rows(data), reliability=_reliability(data)[0],
        examples=_examples(data), tuning=_tuning(data))


def _tuning(data: ReportData) -> Dict[str, object]:
    """The tuning section's sentence, objective, columns and best trial (--tune)."""
    if not data.tuning:
        return {}
    best = tuning.best_trial(data.tuning)
    return {"text": tuning.tuning_text(data.tuning.get("settings") or {}, data.tuning),
            "label": tuning.objective_label(data.tuning),
            "names": tuning.searched_names(data.tuning),
            "best": best["trial"] if best else None}


def _examples(data: ReportData) -> List[dict]:
    """The predictions' tables: the first mistakes by the task's score (the most confident
    first), then a few right predictions; for a task without right or wrong (regression), the
    largest and the smallest errors. Rows that tag words show the words and their tags."""
    p = data.predictions
    if p is None:
        return []
    view = p.view
    rows = p.confident_mistakes + p.correct_examples
    words = any(e.words for e in rows)
    columns = [] if words else (p.text_columns or sorted({c for e in rows for c in e.text}))
    scope = (f"the first {p.predicted:,} eval examples" if p.first_examples_only
             else f"all {p.predicted:,} eval examples")
    shown = len(p.confident_mistakes)
    if not view.right_or_wrong:
        mean = "" if p.mean_score is None else f" (mean {view.score}: {p.mean_score:.4g})"
        first = {"title": f"The {shown} {view.mistakes}",
                 "caption": f"{view.score.capitalize()} of {scope}, {view.mistakes_order}{mean}."}
    elif p.mistakes:
        first = {"title": f"The {shown} {view.mistakes}",
                 "caption": f"{p.mistakes:,} mistakes among {scope}, {view.mistakes_order}."}
    else:
        first = {"title": "Mistakes", "caption": f"No mistakes among {scope}."}
    common = {"columns": columns, "words": words, "score": view.score, "label": view.label,
              "score_format": view.score_format}
    return [{"id": "mistakes", "rows": p.confident_mistakes, **common, **first},
            {"id": "correct", "rows": p.correct_examples, "title": view.correct,
             "caption": view.correct_order, **common}]


def _history_rows(history: Dict[str, List[float]]) -> List[dict]:
    epochs = max((len(v) for v in history.values()), default=0)
    keys = sorted(history, key=lambda k: (k.startswith("val_"), k != "loss", k))
    return [{"epoch": e + 1, "values": [history[k][e] if e < len(history[k]) else None
                                        for k in keys], "keys": keys} for e in range(epochs)]


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>electra-tfx run {{ d.run_id }}</title>
<style>
body { font-family: sans-serif; margin: 1.5em auto; padding: 0 1em; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
.decision { padding: .8em 1em; border-radius: 6px; font-weight: bold; margin: 1em 0; }
.blessed { background: #e3f6e3; border: 1px solid #4caf50; }
.notblessed { background: #fde8e8; border: 1px solid #e53935; }
.neutral { background: #f3f3f3; border: 1px solid #999; }
.better { color: #2e7d32; } .worse { color: #c62828; }
tr.pass td.result { color: #2e7d32; } tr.fail td.result { color: #c62828; font-weight: bold; } tr.na td.result { color: #777; }
.verdict { font-size: 1.1em; margin-bottom: .4em; }
#headline { background: #fff; font-weight: normal; } #headline .note { font-size: .85em; color: #555; }
#headline .note.better { color: #2e7d32; } #headline .note.worse { color: #c62828; }
#warnings { margin: .5em 0 0; padding-left: 1.2em; font-weight: normal; }
.warning { color: #8a4b00; }
td.words, table.examples td.text { text-align: left; word-break: normal; }
#rules th, table.examples th { text-align: left; }
.muted { color: #777; font-size: .9em; }
img { max-width: 100%; border: 1px solid #eee; margin: .4em 0; }
code { background: #f6f6f6; padding: 0 .2em; }
td.text { text-align: left; word-break: break-all; }
mark.wrong { background: #fde8e8; color: #c62828; font-weight: bold; }
</style></head><body>
<h1>electra-tfx run report — {{ d.run_id }}</h1>
<p class="muted">{{ d.task }}{% if d.started %} · started {{ d.started }}{% endif %} · output {{ d.output_dir }}</p>

{% set cls = "neutral" if d.blessed is none else ("blessed" if d.blessed else "notblessed") %}
<div id="decision" class="decision {{ cls }}">
<div class="verdict">{{ verdict }}</div>
{% if headline %}<table id="headline"><tr><th></th>{% for h in headline %}<th>{{ h.role }}</th>{% endfor %}</tr>
<tr><td>{{ headline[0].metric }} (eval split)</td>{% for h in headline %}<td>{{ "–" if h.value is none else h.value|num }}{% if h.note %}<br><span class="note {{ h['class'] }}">{{ h.note }}</span>{% endif %}</td>{% endfor %}</tr></table>{% endif %}
<div>{{ d.push_text() }}</div>
{% if warnings %}<ul id="warnings">{% for w in warnings %}<li class="warning">{{ w }}</li>{% endfor %}</ul>{% endif %}
</div>

{% if rule_rows %}
<table id="rules"><tr><th>blessing rule</th><th>the candidate must have</th><th>why this threshold</th><th>candidate</th><th>result</th></tr>
{% for r in rule_rows %}<tr class="{{ r['class'] }}"><td>{{ r.rule }}</td><td class="words">{{ r.requirement or "–" }}</td><td class="words">{{ r.why }}</td><td>{{ "–" if r.value is none else r.value|num }}</td><td class="words result">{{ r.result }}</td></tr>
{% endfor %}</table>
{% endif %}

<h2>Inputs</h2>
<table>
{% for split, path in d.data_sources.items() %}<tr><th>data ({{ split }})</th><td class="text">{{ path }}</td></tr>{% endfor %}
{% for key, value in d.checkpoint.items() if key != "warning" %}<tr><th>checkpoint {{ key }}</th><td class="text">{{ value }}</td></tr>{% endfor %}
{% if d.max_seq_length %}<tr><th>max sequence length</th><td class="text">{{ d.max_seq_length }} WordPiece tokens</td></tr>{% endif %}
</table>

<h2>Data</h2>
{% if d.split_counts %}
<table id="splits"><tr><th>split</th><th>examples</th>{% for label in labels %}<th>{{ label }}</th>{% endfor %}</tr>
{% for split, n in d.split_counts|dictsort %}<tr><td>{{ split }}</td><td>{{ n|fmt }}</td>
{% for label in labels %}<td>{{ d.label_counts.get(split, {}).get(label, 0)|fmt }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% else %}<p>No statistics were computed.</p>{% endif %}
{% if lengths %}
<table id="lengths"><tr><th>words per text</th><th>min</th><th>median</th><th>p90</th><th>p99</th><th>max</th><th>mean</th></tr>
{% for split, s in lengths.items() %}{% if s %}<tr><td>{{ split }}</td><td>{{ s.min }}</td><td>{{ s.median }}</td><td>{{ s.p90 }}</td><td>{{ s.p99 }}</td><td>{{ s.max }}</td><td>{{ s.mean }}</td></tr>{% endif %}{% endfor %}
</table>
{% endif %}
{% if images.data %}<img src="{{ images.data }}" alt="label counts and text lengths">{% endif %}
<h3>Anomalies</h3>
{% if d.anomalies %}
<table id="anomalies"><tr><th>split</th><th>feature</th><th>severity</th><th>problem</th></tr>
{% for a in d.anomalies %}<tr><td>{{ a.split }}</td><td>{{ a.feature }}</td><td>{{ a.severity }}</td><td class="text">{{ a.description }}</td></tr>{% endfor %}
</table>
{% else %}<p>None found.</p>{% endif %}

{% if d.tuning %}<h2>Tuning (--tune)</h2>
<p>{{ tuning.text }}</p>
{% if images.tuning %}<img src="{{ images.tuning }}" alt="the objective per tuning trial">{% endif %}
<table id="tuning"><tr><th>trial</th><th>{{ tuning.label }}</th>{% for k in tuning.names %}<th>{{ k }}</th>{% endfor %}</tr>
{% for t in d.tuning.trials %}<tr{% if t.trial == tuning.best %} class="better"{% endif %}><td>{{ t.trial }}{% if t.trial == tuning.best %} (best){% endif %}</td><td>{{ t.score|fmt }}</td>{% for k in tuning.names %}<td>{{ t[k]|fmt }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% endif %}
<h2>Training</h2>
{% if images.training %}<img src="{{ images.training }}" alt="training curves">
<table id="history"><tr><th>epoch</th>{% for k in history_rows[0]["keys"] %}<th>{{ k }}</th>{% endfor %}</tr>
{% for row in history_rows %}<tr><td>{{ row.epoch }}</td>{% for v in row["values"] %}<td>{{ v|fmt }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% else %}<p>No training history (the Trainer did not run in this run's lineage).</p>{% endif %}

<h2>Evaluation (eval split)</h2>
{% if metric_rows %}
<table id="metrics"><tr><th>metric</th>{% for role in roles %}<th>{{ role }}</th>{% endfor %}
{% for role in roles[1:] %}<th>candidate − {{ role }}</th>{% endfor %}</tr>
{% for row in metric_rows %}<tr><td>{{ row.name }}</td>{% for v in row["values"] %}<td>{{ v|fmt if row.count else v|num }}</td>{% endfor %}
{% for diff in row.diffs %}<td class="{{ diff['class'] }}">{{ diff.value|signed }}</td>{% endfor %}</tr>{% endfor %}
</table>
<p class="muted">Green: the candidate is better, red: worse (for each metric in its own direction). {% for role in roles if d.model_descriptions.get(role) %}{{ role }}: {{ d.model_descriptions[role] }}{% if not loop.last %} · {% endif %}{% endfor %}
{% if last_blessed not in roles %} · no last blessed model yet (first blessed run){% endif %}</p>
{% else %}<p>No evaluation in this run.</p>{% endif %}
{% for role, image in images.confusion %}<img src="{{ image }}" alt="confusion matrix {{ role }}">{% endfor %}
{% if slice_rows %}
<h3>Per slice</h3>
<table id="slices"><tr><th>slice</th><th>model</th>{% for n in slice_names %}<th>{{ n }}</th>{% endfor %}</tr>
{% for row in slice_rows %}<tr><td>{{ row.slice }}</td><td class="text">{{ row.role }}</td>{% for v in row["values"] %}<td>{{ v|fmt if loop.index0 in slice_counts else v|num }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% endif %}
{% if images.calibration %}<h3>Calibration</h3>
<img src="{{ images.calibration }}" alt="reliability diagram">
<table id="reliability"><tr><th>confidence bin</th><th>examples</th><th>mean confidence</th><th>accuracy</th><th>gap</th></tr>
{% for b in reliability if b.count %}<tr><td>{{ "%.1f–%.1f"|format(b.lower, b.upper) }}</td><td>{{ b.count }}</td><td>{{ "%.4f"|format(b.confidence) }}</td><td>{{ "%.4f"|format(b.accuracy) }}</td><td>{{ "%+.4f"|format(b.accuracy - b.confidence) }}</td></tr>{% endfor %}
</table>
<p class="muted">A well-calibrated model's accuracy in each bin equals its mean confidence (gap 0); a negative gap means over-confident.</p>
{% endif %}

{% if examples %}
<h2>Examples (eval split)</h2>
{% for table in examples %}<h3>{{ table.title }}</h3><p class="muted">{{ table.caption }}</p>
{% if table.rows %}<table id="{{ table.id }}" class="examples"><tr>{% for c in table.columns %}<th>{{ c }}</th>{% endfor %}{% if table.words %}<th>words and predicted tags (a wrong one: predicted → true)</th>{% else %}<th>{{ table.label }}</th><th>predicted</th>{% endif %}<th>{{ table.score }}</th></tr>
{% for e in table.rows %}<tr>{% for c in table.columns %}<td class="text">{{ e.text.get(c, "") }}</td>{% endfor %}{% if table.words %}<td class="text">{% for w in e.words %}{% if w[1] == w[2] %}<span class="tag">{{ w[0] }}/{{ w[1] }}</span>{% else %}<mark class="wrong">{{ w[0] }}/{{ w[1] }} → {{ w[2] }}</mark>{% endif %}{% if not loop.last %} {% endif %}{% endfor %}</td>{% else %}<td>{{ e.label }}</td><td>{{ e.predicted }}</td>{% endif %}<td>{{ table.score_format|format(e.shown_score) }}</td></tr>{% endfor %}
</table>{% else %}<p>None.</p>{% endif %}{% endfor %}
{% elif d.blessed is not none and d.label_names %}<h2>Examples (eval split)</h2><p>No per-example predictions were recorded for this run (they are, after the run, for every task with a right answer).</p>
{% endif %}

{% if d.lineage %}
<h2>Lineage</h2>
<table id="lineage"><tr><th>artifact</th><th>produced by</th><th>run</th><th>uri</th><th>details</th></tr>
{% for step in d.lineage %}<tr><td>{{ step.artifact_type }}</td><td>{{ step.producer }}</td><td>{{ step.run_id }}</td><td class="text">{{ step.uri }}</td>
<td class="text">{% for k, v in step.details.items() %}{{ k }}: {{ v }}{% if not loop.last %}<br>{% endif %}{% endfor %}</td></tr>{% endfor %}
</table>
{% endif %}

{% if d.components %}
<h2>Components</h2>
<table id="components"><tr><th>component</th><th>state</th><th>seconds</th></tr>
{% for c in d.components %}<tr><td>{{ c.name }}</td><td>{{ c.state }}</td><td>{{ "%.1f"|format(c.seconds) }}</td></tr>{% endfor %}
</table>
{% endif %}
</body></html>
"""
