"""The runner of ``pseudoprog assess``: a typed context, the stage list, the scope rule and one error policy.

It holds no numerics: every stage lives in its own package and returns a
:class:`~pseudoprog.handoff.StageOutput` that :class:`~pseudoprog.flow.context.FlowContext` merges.
"""

from .context import FlowContext
from .run import STAGES, assess, guarded
from .scope import decide_scope

__all__ = ["STAGES", "FlowContext", "assess", "decide_scope", "guarded"]
