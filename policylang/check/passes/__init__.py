"""The checker's passes, in the order they run. One file each.

Each pass is ``run(ctx: CheckContext) -> Iterable[Diagnostic]``. Earlier passes may leave
facts for later ones in ``ctx.facts`` (the regex pass records broken patterns so the
Hyperscan pass skips them).
"""

from policylang.check.passes import (
    actions,
    annotations,
    characters,
    citations,
    context_names,
    context_types,
    hyperscan,
    models,
    names,
    options,
    policy_tests,
    reachability,
    redos,
    regexes,
    scope,
    tools,
    types,
    unused,
    wordcost,
)

PASSES = (
    ("names", names.run),              # PL101-PL105, PL107, PL205, PL209
    ("annotations", annotations.run),  # PL111, PL210
    ("options", options.run),          # PL108, PL109, PL110, PL210
    ("regexes", regexes.run),          # PL201, PL202, PL206, PL304
    ("hyperscan", hyperscan.run),      # PL401, PL402, PL403
    ("redos", redos.run),              # PL215 (reads the hyperscan pass's fallback patterns)
    ("wordcost", wordcost.run),        # PL404, PL405
    ("types", types.run),              # PL108, PL203, PL204, PL208
    ("tools", tools.run),              # PL223, PL224
    ("scope", scope.run),              # PL225
    ("actions", actions.run),          # PL207, PL214
    ("models", models.run),            # PL212, PL213
    ("tests", policy_tests.run),       # PL106, PL211
    ("unused", unused.run),            # PL301
    ("citations", citations.run),      # PL302
    ("characters", characters.run),    # PL303
    ("reachability", reachability.run),  # PL305
    ("context_types", context_types.run),  # PL307, PL308, PL309 (before context_names: it reads the fact)
    ("context_names", context_names.run),  # PL306 (only where no context attribute is declared)
)
