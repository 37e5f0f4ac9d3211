"""Faithfulness checks: key size, deletion and insertion curves, ROAD (:mod:`.suite`); the
removal protocols (:mod:`.removal`) and ROAD's noisy linear imputation (:mod:`.imputation`)."""
