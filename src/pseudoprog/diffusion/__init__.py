"""Diffusion: apparent diffusion coefficient maps and per-lesion summaries (clinical_rules.md §2.4, §5.4)."""
