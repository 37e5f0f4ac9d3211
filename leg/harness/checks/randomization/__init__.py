"""Randomization checks (Adebayo et al., 2018; Hedström et al., 2024): cascading,
independent and label randomization, sMPRT and eMPRT (:mod:`.suite`); the randomization of
Keras layers and PyTorch modules (:mod:`.layers`, :mod:`.layers_torch`); the similarity
metrics (:mod:`.similarity`)."""
