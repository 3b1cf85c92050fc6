"""DCE constants by contrast agent and field strength: r1, arterial blood T1, haematocrit (each sourced)."""

from __future__ import annotations

from ..tables import field_key, load_table


def relaxivity_for(agent: str | None, field_strength_t: float | None) -> tuple[float, str]:
    """r1 (1/(mM·s)) of a contrast agent at a field strength, and where the number came from."""
    table = load_table("dce_constants")["relaxivity_per_mM_s"]
    if agent:
        name = agent.strip().lower()
        for word in name.replace("-", " ").split():
            generic = table["aliases"].get(word, word)
            if generic in table["agents"]:
                value = float(table["agents"][generic][field_key(field_strength_t)])
                return value, f"{generic} at {field_key(field_strength_t)} T, {table['source']}"
    return float(table["default"]), f"agent not recognised or not recorded: default {table['default_source']}"


def blood_t1_for(field_strength_t: float | None) -> tuple[float, str]:
    table = load_table("dce_constants")["blood_t1_s"]
    key = field_key(field_strength_t)
    return float(table[key]), f"arterial blood T1 at {key} T, {table['source']}"


def default_haematocrit() -> float:
    return float(load_table("dce_constants")["haematocrit"]["value"])
