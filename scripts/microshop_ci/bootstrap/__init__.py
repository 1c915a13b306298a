"""The machine under the pipeline, set up before the locked environment exists: Debian packages,
the Docker engine and its runtime wrapper. Standard library only: the system Python runs these
modules (`PYTHONPATH=scripts python3 -m microshop_ci.bootstrap.X`), and dockerd runs the wrapper.
"""
