"""The metastasis prior and its timing against Brain-TR-GammaKnife (244 lesions after Gamma Knife, 23 local
recurrences, months from treatment to the follow-up MRI).

Denominators differ (clinical_rules §6 C1): the table labels *every* treated lesion at follow-up
(recurrence vs stable), while the prior is P(recurrence | an enlarging lesion) from a biopsy series
(Narloch 2017 [V: R32]). Every recurrence is an enlarging lesion, so in each time window
P(recurrence among all lesions) = P(enlarging) × P(recurrence | enlarging) ≤ P(recurrence | enlarging):
the observed all-lesion rate must not exceed what the prior allows. That bound is the test; the ratio
(implied share of lesions that enlarge) and the timing of recurrences are reported (run with ``-s``).
"""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.evidence.priors import WEEKS_PER_MONTH, case_facts, choose_base_rate
from pseudoprog.evidence.stats import wilson_interval
from tests.conftest import shared_data
from tests.evidence.helpers import glioma_case

pytestmark = pytest.mark.validation
XLSX = "Brain-TR-GammaKnife-Clinical-Information.xlsx"


def _lesions() -> tuple[np.ndarray, np.ndarray]:
    openpyxl = pytest.importorskip("openpyxl", reason="openpyxl reads the xlsx (test extra)")
    path = shared_data("brain-tr-gammaknife-clinical", XLSX)
    sheet = openpyxl.load_workbook(path, read_only=True, data_only=True)["lesion_level"]
    rows = sheet.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows)]
    i_label = header.index("mri_type")
    i_months = header.index("duration_tx_to_imag (months)")
    labels, months = [], []
    for r in rows:
        if r[i_label] is None:
            continue
        labels.append(str(r[i_label]).strip().lower() == "recurrence")
        months.append(float(r[i_months]))
    return np.array(labels), np.array(months)


def _metastasis_prior(months: float):
    base = case_facts(glioma_case())
    after_srs = dict(vars(base), metastasis=True, glioma_grade="", srs=True)  # Gamma Knife: radiosurgery
    facts = type(base)(**dict(after_srs, weeks_since_rt=months * WEEKS_PER_MONTH))
    return choose_base_rate(facts)


def test_table_is_as_documented():
    rec, months = _lesions()
    assert rec.size == 244 and int(rec.sum()) == 23
    assert months.min() > 0 and months.max() < 60


def test_metastasis_prior_and_timing_against_gamma_knife_outcomes():
    rec, months = _lesions()
    lo_all, hi_all = wilson_interval(int(rec.sum()), rec.size)
    print(f"\nGamma Knife: {int(rec.sum())}/{rec.size} recurrences = {rec.mean():.3f} (95 % {lo_all:.3f}-{hi_all:.3f})")
    for name, mask, at in (("<= 9 months", months <= 9, 6.0), ("> 9 months", months > 9, 14.0)):
        row = _metastasis_prior(at)
        k, n = int(rec[mask].sum()), int(mask.sum())
        lo, hi = wilson_interval(k, n)
        p, (p_lo, p_hi) = float(row["p_tp"]), row["ci"]
        implied = (k / n) / p
        print(
            f"  {name}: observed {k}/{n} = {k / n:.3f} (95 % {lo:.3f}-{hi:.3f}); prior P(TP | enlarging) "
            f"{p:.3f} ({p_lo}-{p_hi}, {row['id']}); implied share of lesions enlarging {implied:.2f}"
        )
        # Necessary condition: recurrences among all lesions cannot outnumber recurrences among enlargers.
        assert lo <= p_hi, f"{name}: the prior's upper bound {p_hi} is below the observed rate {lo:.3f}"
    share_early = float(rec[months <= 9].sum() / rec.sum())
    print(
        f"  recurrences detected by 9 months: {int(rec[months <= 9].sum())}/{int(rec.sum())} = {share_early:.2f} "
        f"(biopsy series behind the prior: 10/11 = 0.91); median months to MRI: recurrence "
        f"{np.median(months[rec]):.1f}, stable {np.median(months[~rec]):.1f}"
    )
    # The timing dependence is far weaker here than in the biopsy series: report it, and check the prior's
    # late interval still leaves room for what this cohort shows (at least 12/120 lesions recur late).
    late = _metastasis_prior(14.0)
    assert late["ci"][1] >= float(rec[months > 9].mean())
    # issue 12 / clinical_rules §3.3 correction: the prior itself (not only its interval) must allow what this
    # cohort shows: P(TP | enlarging) >= P(recurrence among all lesions imaged > 9 months) = 12/120.
    assert float(late["p_tp"]) >= float(rec[months > 9].mean())
    assert late["id"] == "metastasis_after_srs"
