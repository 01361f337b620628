"""The knowledge operators' and evaluators' workbench (issue 15).

Missed questions become drafts of items in a few clicks; a draft is previewed
side by side with the published knowledge, passes the gate (the item's
benchmark cases) and is published without a restart; every version is kept
with its field-level diff and can be rolled back through the gate; bad ratings
become review tasks; evaluators run benchmarks and compare runs.

- :mod:`~assistant.workbench.service`: the operations (``Workbench``);
- :mod:`~assistant.workbench.live`: building a knowledge version and switching to it;
- :mod:`~assistant.workbench.gate`: the publish gate;
- :mod:`~assistant.workbench.drafts`: drafts, validation, versions, diffs;
- :mod:`~assistant.workbench.missed`: missed questions and their groups;
- :mod:`~assistant.workbench.reviews`: 好差评 review tasks;
- :mod:`~assistant.workbench.evalruns`: evaluator runs in processes of their own;
- :mod:`~assistant.workbench.files`: the files under ``data/workbench``.
"""

from assistant.workbench.service import DraftInvalid, GateRefused, OverrideForbidden, Workbench

__all__ = ["DraftInvalid", "GateRefused", "OverrideForbidden", "Workbench"]
