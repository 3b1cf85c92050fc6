"""DCE constants by contrast agent and field strength: r1, arterial blood T1, haematocrit (each sourced)."""

from __future__ import annotations

import re

from ..tables import field_key, load_table


def relaxivity_for(agent: str | None, field_strength_t: float | None) -> tuple[float, str]:
    """r1 (1/(mM·s)) of a contrast agent at a field strength, and where the number came from.

    The agent is matched on its letters and digits against the generic names and the aliases of
    ``dce_constants.yaml`` (trade names, abbreviations: "Gadovist 1.0", "Gd-DOTA", "gadoterate meglumine"),
    the longest name first. A source that says "assumed" names a stated assumption (unknown agent or field).
    """
    table = load_table("dce_constants")["relaxivity_per_mM_s"]
    key = field_key(field_strength_t)
    if field_strength_t is None:
        field_note = "; field strength not recorded: 3 T assumed"
    elif abs(float(field_strength_t) - float(key)) > float(table["field_tolerance_t"]):
        field_note = f"; {float(field_strength_t):g} T is not tabulated: the {key} T value assumed"
    else:
        field_note = ""
    generic = _generic_agent(agent, table)
    if generic is not None:
        value = float(table["agents"][generic][key])
        source = table.get("agent_sources", {}).get(generic, table["source"])
        return value, f"{generic} at {key} T, {source}{field_note}"
    what = f"agent {agent!r} not recognised" if agent else "agent not recorded"
    return float(table["default"]), f"{what}: default {table['default']} /mM/s assumed, {table['default_source']}"


def generic_agent(agent: str | None) -> str | None:
    """The generic name of a contrast agent as written anywhere (trade name, abbreviation), or None if unknown."""
    return _generic_agent(agent, load_table("dce_constants")["relaxivity_per_mM_s"])


def _generic_agent(agent: str | None, table: dict) -> str | None:
    if not agent:
        return None
    compact = re.sub(r"[^a-z0-9]", "", agent.lower())
    names = {**{a: a for a in table["agents"]}, **table["aliases"]}
    for name in sorted(names, key=len, reverse=True):
        if name in compact:
            return str(names[name])
    return None


def blood_t1_for(field_strength_t: float | None) -> tuple[float, str]:
    table = load_table("dce_constants")["blood_t1_s"]
    key = field_key(field_strength_t)
    return float(table[key]), f"arterial blood T1 at {key} T, {table['source']}"


def default_haematocrit() -> float:
    return float(load_table("dce_constants")["haematocrit"]["value"])
