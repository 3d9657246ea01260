"""The canary gate: a new version against the stable one, both serving at the same time.

``otel-drift gate --canary SEL --baseline SEL`` reads both sides' per-bin
counts from Prometheus over one range and judges every watched value with a
two-sample test and an effect-size floor (``verdict.py``); ``--serve``
answers the same question over HTTP for Argo Rollouts and Flagger
(``serve.py``). ``query.py`` writes the PromQL, ``run.py`` puts the two
together and writes the reports, ``command.py`` is the command line.
"""
