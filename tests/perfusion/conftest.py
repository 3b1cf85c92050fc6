"""One DSC phantom scan shared by the perfusion tests: the timepoint, its series, and a one-scan case folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from pseudoprog.phantoms.dsc import dsc_series
from pseudoprog.phantoms.patient import SCENARIOS, PhantomTimepoint, _case_yaml, build_timepoint
from pseudoprog.phantoms.writers import SyntheticSeries, write_nifti


@dataclass
class DSCScan:
    tp: PhantomTimepoint
    series: SyntheticSeries
    case_dir: Path
    nifti: Path


@pytest.fixture(scope="session")
def dsc_scan(tmp_path_factory: pytest.TempPathFactory) -> DSCScan:
    sc = SCENARIOS["true_progression"]
    spec = sc.scans[1]
    tp = build_timepoint(sc, spec, seed=7)
    series = dsc_series(tp)[0]
    case_dir = tmp_path_factory.mktemp("dsc-case")
    folder = spec.date.isoformat()
    nifti = write_nifti(series, case_dir / folder)
    doc = _case_yaml(sc, [(spec, folder)], report_measurements=True)
    (case_dir / "case.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return DSCScan(tp=tp, series=series, case_dir=case_dir, nifti=nifti)
