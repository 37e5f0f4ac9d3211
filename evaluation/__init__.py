"""The evaluation harness: sanity checks, perturbation-size comparisons and ground-truth
accuracy of saliency methods, as pytest suites (``pytest evaluation``) with reports."""
