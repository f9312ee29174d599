# The selfdisc pytest plugin itself is registered by the package's pytest11 entry point (pip install -e .).
# pytester drives whole pytest runs in the project's own end-to-end tests.
pytest_plugins = ["pytester"]
