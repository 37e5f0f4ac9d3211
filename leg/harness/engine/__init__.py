"""The engine every suite runs on: the suite interface and its registry (:mod:`.suite`), the
shared pipeline (:mod:`.pipeline`), jobs and executors (:mod:`.jobs`, :mod:`.executors`,
:mod:`.ray_executor`), the on-disk cache (:mod:`.cache`), models and images
(:mod:`.inputs`) and the cost plan (:mod:`.plan`)."""
