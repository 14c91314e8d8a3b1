"""pytest-jupyter's server fixtures, for this folder only.

Imported here rather than through ``pytest_plugins``, which would register them
for the whole suite: pytest-jupyter brings autouse fixtures (a fresh event loop
closed after every test, a ServerApp cleanup) and a ``pytest_pyfunc_call`` hook
that runs every coroutine test, which other folders must not get.
"""

from pytest_jupyter.jupyter_server import *  # noqa: F403
