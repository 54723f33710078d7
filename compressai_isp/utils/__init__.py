"""Evaluation tooling: ``eval_model`` (RD evaluation on RAW input), ``anchors`` (conventional and
learned-ISP + standard-codec baselines), ``plot`` (RD plots), ``bd`` (Bjontegaard deltas) and
``results`` (the shared result-JSON format). Each tool is also a ``compressai-isp`` sub-command.

Submodules are imported on demand so ``import compressai_isp.utils.bd`` stays light.
"""
