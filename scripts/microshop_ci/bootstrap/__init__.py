"""Setting up a machine before the locked environment exists: Debian packages, dockerd, uv.

Standard library only (with the core, cluster.docker_runtime and browser modules it uses): the
system Python runs these modules, `PYTHONPATH=scripts python3 -m microshop_ci.bootstrap.X`.
"""
