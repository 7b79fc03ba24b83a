"""Root pytest configuration, for the nbval runs of the chapters (``pytest --nbval book/*.ipynb``).

nbval waits only 5 seconds (hard-coded, not configurable: nbval issues #136 and #231) for each
output message that follows a cell's reply. After a long training cell, even on an idle 2-core machine,
the kernel can take longer than that to send its last messages; nbval then reports "Timeout of 5
seconds exceeded waiting for output", stops the kernel and fails every later cell of the chapter.
A fresh-clone run with AVX2 kernels failed chapter 11 this way after a 20-minute cell. The limit
is raised here; ``--nbval-cell-timeout`` still bounds each cell's execution.
"""

# pytester lets tests/test_nbval_timeout.py collect a notebook with this file as its conftest.
pytest_plugins = ["pytester"]

NBVAL_OUTPUT_TIMEOUT_S = 120


def pytest_collection_modifyitems(items):
    for item in items:
        if type(item).__name__ == "IPyNbCell" and hasattr(item, "output_timeout"):
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT_S
