"""Fuzzing the parsers (issue 18): mutated real DICOM, NIfTI + sidecar, spectroscopy files and case.yaml.

Every input must end in our own error or a result: never another exception, never a hang. The run in
``make test`` is seeded and bounded (PSEUDOPROG_FUZZ_EXAMPLES per target, default 40: well under two minutes on
two cores); ``make fuzz`` runs the same targets long and random and writes the tallies to
PSEUDOPROG_FUZZ_REPORT. A crash found here becomes a regression test in test_parsers.py.
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hardening import fuzzing as fz

EXAMPLES = int(os.environ.get("PSEUDOPROG_FUZZ_EXAMPLES", "40"))
RANDOM = bool(os.environ.get("PSEUDOPROG_FUZZ_RANDOM"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=not RANDOM,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
TALLY = fz.Tally()

pytestmark = [
    pytest.mark.skipif(not fz.SHARED.exists(), reason="reference data ../shared/data not available"),
    pytest.mark.filterwarnings("ignore"),  # pydicom warns on every odd value: that is the point here
]


@pytest.fixture(autouse=True)
def _report():
    yield  # the tallies so far, rewritten after every target (a long run can be read while it goes on)
    out = os.environ.get("PSEUDOPROG_FUZZ_REPORT")
    if out:
        Path(out).write_text(json.dumps(TALLY.summary(), indent=2) + "\n")


@cache
def _seed_files(name: str) -> dict[str, bytes]:
    return {fz.seed_name(rel): fz.read_seed(rel) for rel in fz.DICOM_SEEDS[name]}


def _run_dicom(files: dict[str, bytes], target: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = fz.write_series(Path(tmp) / "images", files)
        TALLY.run(target, lambda: fz.dicom_target(folder))


@FUZZ
@given(
    seed=st.sampled_from(sorted(fz.DICOM_SEEDS)),
    index=st.integers(0, 1),
    edits=st.lists(
        st.tuples(st.sampled_from(fz.FUZZ_TAGS), st.sampled_from(fz.ODD_VALUES), st.booleans()), min_size=1, max_size=3
    ),
)
def test_dicom_tag_mutations_end_in_our_errors(seed, index, edits):
    files = dict(_seed_files(seed))
    name = sorted(files)[index % len(files)]
    raw = files[name]
    for tag, value, nested in edits:
        mutated = fz.mutate_tag(raw, gz=name.endswith(".gz"), tag=tag, value=value, nested=nested)
        raw = mutated if mutated is not None else raw
    files[name] = raw
    _run_dicom(files, "dicom-tag")


@FUZZ
@given(
    seed=st.sampled_from(sorted(fz.DICOM_SEEDS)),
    index=st.integers(0, 1),
    edits=st.lists(st.tuples(st.integers(0, 2**22), st.integers(0, 255)), min_size=1, max_size=12),
    truncate=st.none() | st.integers(0, 2**22),
)
def test_dicom_byte_mutations_end_in_our_errors(seed, index, edits, truncate):
    files = dict(_seed_files(seed))
    name = sorted(files)[index % len(files)]
    files[name] = fz.mutate_bytes(files[name], gz=name.endswith(".gz"), edits=edits, truncate=truncate)
    _run_dicom(files, "dicom-bytes")


@FUZZ
@given(
    four_d=st.booleans(),
    header_edits=st.lists(st.tuples(st.integers(0, 351), st.integers(0, 255)), max_size=6),
    sidecar=st.dictionaries(st.sampled_from(fz.SIDECAR_KEYS), st.sampled_from(fz.JSON_ODD), max_size=3),
    broken_json=st.booleans(),
)
def test_nifti_and_sidecar_mutations_end_in_our_errors(four_d, header_edits, sidecar, broken_json):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        path, side = fz.small_nifti(folder, four_d=four_d)
        raw = bytearray(path.read_bytes())
        for pos, byte in header_edits:
            raw[pos] = byte
        path.write_bytes(bytes(raw))
        meta = json.loads(side.read_text())
        meta.update(sidecar)
        text = json.dumps(meta, allow_nan=True)
        side.write_text(text[: len(text) // 2] if broken_json else text)
        TALLY.run("nifti", lambda: fz.dicom_target(folder))


@FUZZ
@given(
    seed=st.sampled_from(fz.MRS_SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 255)), min_size=1, max_size=8),
    truncate=st.none() | st.integers(0, 2**20),
)
def test_spectroscopy_mutations_end_in_our_errors(seed, edits, truncate):
    from pseudoprog.ingest.mrs import read_spectrum
    from pseudoprog.spectroscopy.results import read_fit_result

    raw = fz.mutate_bytes(fz.read_seed(seed), gz=False, edits=edits, truncate=truncate)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(seed).name
        path.write_bytes(raw)
        reader = read_spectrum if path.suffix.lower() in (".rda", ".ima", ".dcm") else read_fit_result
        TALLY.run("spectroscopy", lambda: reader(path))


@FUZZ
@given(
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(fz.YAML_ODD)), min_size=1, max_size=4),
    byte_edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(32, 126)), max_size=3),
)
def test_case_yaml_mutations_end_in_our_errors(edits, byte_edits):
    from pseudoprog.ingest import ingest_case

    lines = fz.CASE_YAML.splitlines()
    for where, value in edits:
        i = where % len(lines)
        line = lines[i]
        if ": " in line:  # replace one value of the line (the n-th 'key: value' pair)
            parts = line.split(": ")
            k = 1 + (where // len(lines)) % (len(parts) - 1)
            tail = parts[k].split(",", 1)
            parts[k] = value + ("," + tail[1] if len(tail) > 1 else ("}" if tail[0].endswith("}") else ""))
            lines[i] = ": ".join(parts)
    text = bytearray("\n".join(lines).encode())
    for pos, byte in byte_edits:
        text[pos % len(text)] = byte
    with tempfile.TemporaryDirectory() as tmp:
        case = Path(tmp) / "case"
        case.mkdir()
        (case / "case.yaml").write_bytes(bytes(text))
        TALLY.run("case.yaml", lambda: ingest_case(case))
