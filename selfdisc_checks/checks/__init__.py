"""The product's checks, shipped in the package so any repository runs them without copying a file:

    pytest --pyargs selfdisc_checks.checks --model CKPT

``test_model.py`` (per task: generation and discrimination accuracy, DG-DIFF, invalid rate, position bias),
``test_regression.py`` (against ``--baseline`` or ``--baseline-model``) and ``test_likelihood.py``
(``--discriminate likelihood``). They read ``[tool.selfdisc]`` from the pyproject.toml of pytest's rootdir
and skip, saying why, whatever the run did not measure.
"""
