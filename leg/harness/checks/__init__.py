"""The checks, one folder or module per family: randomization (the sanity checks),
faithfulness (perturbation size, deletion and insertion, ROAD), the estimand and ground
truth; and what they share: the metric registry (:mod:`.metrics`), paired statistics
(:mod:`.statistics`), the reliability of rankings (:mod:`.agreement`) and verdicts
(:mod:`.verdicts`)."""
