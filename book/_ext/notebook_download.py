"""Offers every chapter as a Jupyter notebook in the book's download menu.

sphinx-book-theme adds the ``.ipynb`` entry for MyST Markdown chapters only when a launch
button is configured; a reader without a JupyterHub or Binder still wants the notebook. This
extension copies the notebook MyST-NB wrote for the chapter (``jupyter_execute/``) into the
built site's ``_sources/`` and tells the theme where it is, the same way the theme does when
launch buttons are on, so both configurations give the same download.
"""

from pathlib import Path
from shutil import copy2

# The theme builds its header buttons at priority 501; this must run first.
PRIORITY = 500


def offer_notebook(app, pagename, templatename, context, doctree):
    if "kernelspec" not in app.env.metadata.get(pagename, {}):
        return  # a page without code cells, not a notebook
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    app.connect("html-page-context", offer_notebook, priority=PRIORITY)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
