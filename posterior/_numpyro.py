"""NumPyro, imported so that it still works after ``import arviz``.

ArviZ (arviz_base) registers ``numpyro`` as a lazy module when it is imported
first. Importing ``numpyro.distributions`` through that lazy module leaves the
package without its submodules as attributes (``numpyro.distributions.
distribution`` among them), and every ``numpyro.factor`` then fails with
``AttributeError: module 'numpyro.distributions' has no attribute
'distribution'``. Users import ArviZ first all the time, so the package puts
each loaded submodule back on its parent. Seen with arviz 1.3 (arviz_base 1.3.1,
lazy_loader 0.4) and numpyro 0.22.
"""

import sys

import numpyro
import numpyro.distributions


def _reattach_submodules(package: str) -> None:
    prefix = package + "."
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(prefix):
            continue
        parent_name, _, child = name.rpartition(".")
        parent = sys.modules.get(parent_name)
        if parent is not None and not hasattr(parent, child):
            setattr(parent, child, module)


_reattach_submodules(numpyro.__name__)
