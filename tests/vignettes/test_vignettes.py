"""Literature vignettes (issue 12, "How it is checked"): realistic histories with the answer written beforehand.

Each ``cases/NN-name.yaml`` holds two YAML documents. The first is the expectation, written from the sources
before the program was run: ``source`` (author year journal, or the clinical_rules.md section it rests on),
``why`` (one line: why the expectation follows) and ``expected``. The second document, after a line starting
with ``---``, is the case.yaml exactly as a user would write it (reported measurements and markers, no images);
it is copied verbatim into a temporary case folder and assessed.

``expected`` keys (every key is optional except ``scope``):

* ``scope``: ``in_scope`` | ``out_of_scope`` | ``no_question`` (no new or enlarging enhancing lesion: no
  probability, surveillance route; ``scope.in_scope`` may be either) | ``input_error`` (assess must raise an
  InputError whose field contains one of ``error_field``) | ``input_error_or_warned`` (an InputError naming
  ``error_field``, or else a warning containing one of ``warning_contains`` and the ``if_assessed`` expectations).
* ``scope_reason_contains``: any of these phrases in the scope reason (case-insensitive).
* ``criterion`` and ``category`` (one category or a list of acceptable ones) of the criterion heading the report;
  ``other_criteria``: {criterion: [acceptable categories]} among the other criteria.
* ``probability_range``: ``[lo, hi]`` for the point value, ``null`` when no probability may be computed, or
  ``any`` (not checked); ``min_interval_width``: the 95 % interval must be at least this wide;
  ``interval_within``: ``[lo, hi]`` that the whole 95 % interval must lie in (e.g. [0.02, 0.98] without histology).
* ``label``: one label or a list of acceptable ones (``null`` when no probability); ``indeterminate`` also accepts
  ``mixed / indeterminate`` (README: the indeterminate label when imaging families pull both ways).
* ``next_step``: a key (or list of acceptable keys) of ``procedures`` in ``pseudoprog/data/advice.yaml``, or
  ``surveillance``; ``route_contains`` (out of scope): any of these phrases in the next step.
* ``must_not_contain``: phrases that must not appear in the next step or the management text.
* ``evidence_mentions``: phrases that must appear somewhere in the evidence table (name, note or source);
  ``evidence_row_mentions``: {row name: phrases} that the note or source of that evidence row must contain.
* ``histology``: true when a timepoint carries a histology result (the [0.02, 0.98] bound then does not apply).

* ``same_answer_as``: another vignette's stem whose probability must be within 0.05 and whose label and next
  step must be equal; ``same_probability_as``: the same for the probability only (the criteria may differ);
  ``probability_above``: a twin vignette without one tumour-favouring finding, whose probability must be lower.

Every answer is also held to issue 12's general rules: a "favoured" label only when the whole 95 % interval lies
on that side of 0.5, and without histology a probability within [0.02, 0.98].

``PSEUDOPROG_VIGNETTES_REPORT=FILE`` appends one JSON line per vignette (expected, got, problems) to FILE.

The vignettes run by default (marker ``vignette``: ``-m "not vignette"`` leaves them out). A vignette that still
fails is listed in ``KNOWN_FAILING`` with the reason and skipped, so the suite stays green and the gap stays
visible; ``PSEUDOPROG_VIGNETTES=1`` runs those too.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from pseudoprog.errors import InputError
from pseudoprog.files import load_table
from pseudoprog.flow import assess

pytestmark = [pytest.mark.vignette]

# Vignettes the program still gets wrong, with the reason (issue 12); run them with PSEUDOPROG_VIGNETTES=1.
KNOWN_FAILING: dict[str, str] = {
    "18-met-wbrt-salvage-srs-equivocal-rcbv": (
        "P 0.77 against the expected 0.20-0.75 (label indeterminate and next step MRS/PET are right). Neither side "
        "can be changed with a source (re-checked for issue 12 item 8): (1) the only sized WBRT source, clinical_rules "
        "§3.3 row 'Prior WBRT + salvage SRS' (R67b), is an incidence of radiation necrosis per patient (21.4 % when "
        "salvage combined SRS and WBRT vs ~0 % otherwise) with no recurrence rate and a zero comparator: it gives no "
        "likelihood ratio or odds ratio for an enlarging lesion, so the program lists WBRT without weighing it; "
        "(2) the expected range was written from Patel 2017 glioma cut-offs (1.49-3.1, where rCBV 2.0 is mid-range) "
        "while the metastasis sources the program uses (E1 LR+ 4.2, E3 cut-offs 1.54-2.1) make 2.0 a positive "
        "result; re-deriving the range from them is for the vignette's author, and widening it without that "
        "derivation is not allowed"
    ),
}

CASES = Path(__file__).parent / "cases"
_SPLIT = re.compile(r"^---.*$", re.MULTILINE)
_PAIR_TOLERANCE = 0.05  # issue 12: moving the scan date a little never changes the probability by more than this


def _files() -> list[Path]:
    return sorted(CASES.glob("*.yaml"))


@cache
def read_vignette(stem: str) -> tuple[dict[str, Any], str]:
    """The expectation (first document) and the case.yaml text (second document, kept verbatim)."""
    text = (CASES / f"{stem}.yaml").read_text(encoding="utf-8")
    parts = _SPLIT.split(text, maxsplit=1)
    if len(parts) != 2:
        raise ValueError(f"{stem}.yaml: expected two YAML documents (expectation, then '---' and the case.yaml)")
    meta = yaml.safe_load(parts[0])
    for key in ("source", "why", "expected"):
        if not meta.get(key):
            raise ValueError(f"{stem}.yaml: the expectation needs '{key}'")
    return meta, parts[1].lstrip("\n")


_RUNS: dict[str, Any] = {}


def run_vignette(stem: str, tmp_root: Path) -> dict[str, Any] | InputError:
    """Assess a vignette's case once per process: the assessment as JSON, or the InputError it raised."""
    if stem not in _RUNS:
        _meta, case_text = read_vignette(stem)
        folder = tmp_root / stem
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "case.yaml").write_text(case_text, encoding="utf-8")
        try:
            _RUNS[stem] = assess(folder, folder / "out").to_json_dict()
        except InputError as err:
            _RUNS[stem] = err
    return _RUNS[stem]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _procedure_texts() -> dict[str, str]:
    return {k: str(v["text"]) for k, v in load_table("", "advice")["procedures"].items()}


def next_step_matches(key: str, step: str | None) -> bool:
    """Does the program's next step text correspond to this advice-table key?"""
    if step is None:
        return False
    if key == "surveillance":
        return "surveillance" in step.lower()
    texts = _procedure_texts()
    if key not in texts:
        raise ValueError(f"unknown next_step key '{key}': use surveillance or one of {sorted(texts)}")
    if key == "mri_perfusion":  # the short-interval text also names perfusion: tell them apart
        return texts[key] in step and not step.lower().startswith("short-interval")
    return texts[key] in step


def _all_warnings(got: dict[str, Any]) -> list[str]:
    out = [*got.get("warnings", []), *got["recommendation"].get("warnings", [])]
    for tp in got.get("timepoints", []):
        out += tp.get("warnings", [])
    out += [n.get("reason", "") for n in got.get("not_assessed", [])]
    return [str(w) for w in out]


def summarise(got: dict[str, Any] | InputError) -> str:
    if isinstance(got, InputError):
        return f"InputError(field={got.field!r}): {got}"
    prob = got["probability_true_progression"]
    resp = got["response"] or {}
    rec = got["recommendation"]
    value = prob.get("value")
    interval = prob.get("interval")
    return (
        f"scope={got['scope']['in_scope']} ({got['scope']['reason']}); "
        f"{resp.get('criteria')}={resp.get('category')!r}; "
        f"P={'null' if value is None else f'{value:.3f}'} interval={interval} label={prob.get('label')!r}; "
        f"next_step={rec.get('next_step')!r}; management={rec.get('management')!r}"
    )


def check(stem: str, got: dict[str, Any] | InputError) -> list[str]:
    """Every difference between the vignette's expectation and the program's answer, as sentences."""
    meta, _ = read_vignette(stem)
    exp = meta["expected"]
    problems: list[str] = []
    scope = exp["scope"]
    if scope in ("input_error", "input_error_or_warned"):
        fields = [str(f) for f in _as_list(exp["error_field"])]
        if isinstance(got, InputError):
            named = f"{got.field or ''} {got}"
            if not any(f in named for f in fields):
                problems.append(f"InputError does not name the field {fields}: {got}")
            return problems
        if scope == "input_error":
            return [f"expected an InputError naming {fields}, got an assessment"]
        warned = [w for w in _all_warnings(got) if any(p.lower() in w.lower() for p in exp["warning_contains"])]
        if not warned:
            problems.append(f"no InputError naming {fields} and no warning containing {exp['warning_contains']}")
        exp = {**exp, **exp.get("if_assessed", {}), "scope": "in_scope"}
    if isinstance(got, InputError):
        return [f"unexpected InputError: {got}"]
    in_scope = bool(got["scope"]["in_scope"])
    prob = got["probability_true_progression"]
    rec = got["recommendation"]
    step = rec.get("next_step")
    if exp["scope"] == "in_scope" and not in_scope:
        problems.append("expected in scope, got out of scope")
    if exp["scope"] == "out_of_scope" and in_scope:
        problems.append("expected out of scope, got in scope")
    if exp["scope"] == "no_question":
        if prob.get("value") is not None:
            problems.append("no new or enlarging enhancing lesion: expected no probability (null)")
        if not next_step_matches("surveillance", step):
            problems.append("no new or enlarging enhancing lesion: expected the surveillance route")
    phrases = exp.get("scope_reason_contains")
    if phrases and not any(p.lower() in got["scope"]["reason"].lower() for p in _as_list(phrases)):
        problems.append(f"scope reason lacks any of {_as_list(phrases)}")
    phrases = exp.get("route_contains")
    if phrases and not any(p.lower() in (step or "").lower() for p in _as_list(phrases)):
        problems.append(f"route (next step) lacks any of {_as_list(phrases)}")
    resp = got["response"] or {}
    if exp.get("criterion") and resp.get("criteria") != exp["criterion"]:
        problems.append(f"criterion heading the report: expected {exp['criterion']}, got {resp.get('criteria')}")
    if "category" in exp and resp.get("category") not in _as_list(exp["category"]):
        problems.append(f"category: expected one of {_as_list(exp['category'])}, got {resp.get('category')!r}")
    others = {r["criteria"]: r["category"] for r in [resp, *got.get("other_responses", [])] if r.get("criteria")}
    for name, cats in (exp.get("other_criteria") or {}).items():
        if others.get(name) not in _as_list(cats):
            problems.append(f"{name}: expected one of {_as_list(cats)}, got {others.get(name)!r}")
    value = prob.get("value")
    rng = exp.get("probability_range", "any")
    if rng is None and value is not None:
        problems.append(f"expected no probability (null), got {value:.3f}")
    elif isinstance(rng, list):
        if value is None:
            problems.append(f"expected a probability in {rng}, got null")
        elif not rng[0] <= value <= rng[1]:
            problems.append(f"probability {value:.3f} outside the expected range {rng}")
    width = exp.get("min_interval_width")
    interval = prob.get("interval")
    if width is not None and interval is not None and interval[1] - interval[0] < width:
        problems.append(f"95 % interval {interval} narrower than {width}: overconfident")
    bounds = exp.get("interval_within")
    if bounds is not None and interval is not None and not (bounds[0] <= interval[0] and interval[1] <= bounds[1]):
        problems.append(f"95 % interval {interval} leaves {bounds}")
    labels = _as_list(exp.get("label"))
    if "indeterminate" in labels:  # README: 'mixed / indeterminate' is the indeterminate label of a mixed picture
        labels.append("mixed / indeterminate")
    if "label" in exp and prob.get("label") not in labels:
        problems.append(f"label: expected one of {_as_list(exp['label'])}, got {prob.get('label')!r}")
    if "next_step" in exp and not any(next_step_matches(k, step) for k in _as_list(exp["next_step"])):
        problems.append(f"next step: expected one of {_as_list(exp['next_step'])}, got {step!r}")
    problems += _invariants(got, histology=exp.get("histology", False))
    text = f"{step or ''} {rec.get('management') or ''}".lower()
    for phrase in exp.get("must_not_contain") or []:
        if phrase.lower() in text:
            problems.append(f"next step / management must not contain {phrase!r}")
    evidence_text = " ".join(f"{e.get('name')} {e.get('note')} {e.get('source')}" for e in got.get("evidence", []))
    for phrase in exp.get("evidence_mentions") or []:
        if phrase.lower() not in evidence_text.lower():
            problems.append(f"the evidence table does not mention {phrase!r}")
    for row, phrases in (exp.get("evidence_row_mentions") or {}).items():
        rows = [e for e in got.get("evidence", []) if row in str(e.get("name"))]
        row_text = " ".join(f"{e.get('note')} {e.get('source')}" for e in rows).lower()
        for phrase in _as_list(phrases):
            if phrase.lower() not in row_text:
                problems.append(f"the evidence row {row!r} does not mention {phrase!r} (its reason)")
    return problems


def _invariants(got: dict[str, Any], *, histology: bool) -> list[str]:
    """Issue 12's rules for every answer: labels follow the 95 % interval; no certainty without histology."""
    prob = got["probability_true_progression"]
    value, interval, label = prob.get("value"), prob.get("interval"), prob.get("label")
    problems: list[str] = []
    if value is None or interval is None:
        return problems
    if label == "progression favoured" and not interval[0] > 0.5:
        problems.append(f"'progression favoured' although the 95 % interval {interval} reaches 0.5 (issue 12 item 2)")
    if label == "treatment effect favoured" and not interval[1] < 0.5:
        problems.append(
            f"'treatment effect favoured' although the 95 % interval {interval} reaches 0.5 (issue 12 item 2)"
        )
    if not histology and not 0.02 <= value <= 0.98:
        problems.append(f"probability {value:.4f} outside [0.02, 0.98] without histology (issue 12 item 3)")
    return problems


def check_pair(
    stem: str,
    got: dict[str, Any] | InputError,
    other_stem: str,
    other: dict[str, Any] | InputError,
    *,
    probability_only: bool = False,
) -> list[str]:
    """A vignette and its near-twin must give the same answer (no cliff in time)."""
    if isinstance(got, InputError) or isinstance(other, InputError):
        return [f"cannot compare with {other_stem}: an InputError was raised"]
    a, b = got["probability_true_progression"], other["probability_true_progression"]
    problems: list[str] = []
    if (a.get("value") is None) != (b.get("value") is None):
        problems.append(f"one of {stem} / {other_stem} has a probability and the other not")
    elif a.get("value") is not None and abs(a["value"] - b["value"]) > _PAIR_TOLERANCE:
        problems.append(f"probability {a['value']:.3f} vs {b['value']:.3f} in {other_stem}: a cliff")
    if probability_only:
        return problems
    if a.get("label") != b.get("label"):
        problems.append(f"label {a.get('label')!r} vs {b.get('label')!r} in {other_stem}")
    if got["recommendation"].get("next_step") != other["recommendation"].get("next_step"):
        problems.append(f"next step differs from {other_stem}")
    return problems


def check_above(got: dict[str, Any] | InputError, other_stem: str, other: dict[str, Any] | InputError) -> list[str]:
    """This vignette differs from its twin by one tumour-favouring finding: its probability must be higher."""
    if isinstance(got, InputError) or isinstance(other, InputError):
        return [f"cannot compare with {other_stem}: an InputError was raised"]
    a = got["probability_true_progression"].get("value")
    b = other["probability_true_progression"].get("value")
    if a is None or b is None or not a > b:
        return [f"probability {a} is not above {b} of {other_stem}, which lacks the tumour-favouring finding"]
    return []


def _record(stem: str, meta: dict[str, Any], got: dict[str, Any] | InputError, problems: list[str]) -> None:
    """With PSEUDOPROG_VIGNETTES_REPORT=FILE, append one JSON line per vignette (the table of the issue's note)."""
    target = os.environ.get("PSEUDOPROG_VIGNETTES_REPORT")
    if not target:
        return
    line = {"vignette": stem, "expected": meta["expected"], "got": summarise(got), "problems": problems}
    with open(target, "a", encoding="utf-8") as handle:  # one short append per test: safe with pytest-xdist
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")


@pytest.fixture(scope="module")
def vignette_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vignettes")


@pytest.mark.parametrize("stem", [p.stem for p in _files()])
def test_vignette(stem: str, vignette_root: Path) -> None:
    if stem in KNOWN_FAILING and os.environ.get("PSEUDOPROG_VIGNETTES") != "1":
        pytest.skip(f"known failing (issue 12): {KNOWN_FAILING[stem]}")
    meta, _ = read_vignette(stem)
    got = run_vignette(stem, vignette_root)
    problems = check(stem, got)
    lower = meta["expected"].get("probability_above")
    if lower:
        problems += check_above(got, lower, run_vignette(lower, vignette_root))
    for key in ("same_answer_as", "same_probability_as"):
        other = meta["expected"].get(key)
        if other:
            problems += check_pair(
                stem, got, other, run_vignette(other, vignette_root), probability_only=key == "same_probability_as"
            )
    _record(stem, meta, got, problems)
    if problems:
        expected = yaml.safe_dump(meta["expected"], sort_keys=False, allow_unicode=True).strip()
        pytest.fail(
            f"vignette {stem}\n  source: {meta['source']}\n  why: {meta['why']}\n  expected:\n    "
            + expected.replace("\n", "\n    ")
            + f"\n  got: {summarise(got)}\n  problems:\n    - "
            + "\n    - ".join(problems),
            pytrace=False,
        )


def test_vignette_files_are_well_formed() -> None:
    """Each vignette has its source and reason, a known scope, known next-step keys, and at least 45 exist."""
    files = _files()
    assert len(files) >= 45, f"only {len(files)} vignettes"
    keys = {*_procedure_texts(), "surveillance"}
    scopes = {"in_scope", "out_of_scope", "no_question", "input_error", "input_error_or_warned"}
    for path in files:
        meta, case_text = read_vignette(path.stem)
        exp = meta["expected"]
        assert exp["scope"] in scopes, path.name
        assert set(_as_list(exp.get("next_step", []))) <= keys, path.name
        assert isinstance(yaml.safe_load(case_text), dict), path.name
        for key in ("same_answer_as", "same_probability_as", "probability_above"):
            if exp.get(key):
                assert (CASES / f"{exp[key]}.yaml").exists(), path.name
