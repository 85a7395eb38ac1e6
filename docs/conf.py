"""Sphinx configuration for the hxemu documentation (Markdown pages via myst-parser).

Build with ``sphinx-build -W -b html docs docs/_build/html`` (warnings are errors);
``tests/test_docs.py`` runs the same build.
"""

import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)  # autodoc imports driver, frontend and hxtorch from the checkout

project = "hxemu"
author = "hxemu contributors"
copyright = "hxemu contributors"  # noqa: A001 (Sphinx's name)
release = "0.1.0"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "show-inheritance": False}

html_theme = "alabaster"
html_static_path = ["_static"]
html_title = "hxemu"

# The docstrings use single backticks for code, as Markdown does.
default_role = "literal"


def _literal_blocks(app, what, name, obj, options, lines):
    """Make an indented block after a paragraph ending in ':' a literal block.

    The docstrings are written for plain-text reading: a colon, a blank line and an indented
    table or layout. reStructuredText reads that as a block quote and warns; '::' makes it the
    literal block it is meant to be.
    """
    for i, line in enumerate(lines[:-2]):
        stripped = line.rstrip()
        if not stripped.endswith(":") or stripped.endswith("::") or lines[i + 1].strip():
            continue
        indent = len(line) - len(line.lstrip())
        following = lines[i + 2]
        if following.strip() and len(following) - len(following.lstrip()) > indent:
            lines[i] = stripped + ":"


_OVERLOAD = re.compile(r"^(\d+)\. (\w+\(.*\)(?: -> .*)?)$")


def _overload_lines(app, what, name, obj, options, lines):
    """pybind's "1. f(a: T, *, b: U = 0) -> R" lines of an overloaded builtin as literals
    (a bare '*' would start an emphasis)."""
    for i, line in enumerate(lines):
        match = _OVERLOAD.match(line)
        if match:
            lines[i] = f"{match.group(1)}. ``{match.group(2)}``"


def setup(app):
    app.connect("autodoc-process-docstring", _literal_blocks)
    app.connect("autodoc-process-docstring", _overload_lines)
