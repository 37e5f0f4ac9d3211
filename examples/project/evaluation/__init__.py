"""This project's own ``evaluation`` package (many ML projects have one): leg's harness is
installed as ``leg.harness``, so both import side by side."""

OWNER = "example project"
