"""Evaluation tooling: ``eval_model`` (RD evaluation on RAW input), ``anchors`` (conventional and
learned-ISP + standard-codec baselines), ``plot`` (RD plots), ``bd`` (Bjontegaard deltas) and
``results`` (the shared result-JSON format). Each tool is also a ``compressai-isp`` sub-command.

Each tool's ``main`` reports its errors through :func:`compressai_isp.errors.run_command` (one
line, exit status 1 for a failed input, 2 for a wrong command line).
"""
