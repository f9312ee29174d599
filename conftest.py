# The selfdisc pytest plugin is registered by the package's pytest11 entry point (pip install -e .);
# nothing else is needed here.
