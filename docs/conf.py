"""Sphinx configuration for the tomorro-scim documentation."""

from __future__ import annotations

project = "tomorro-scim"
author = "Tomorro"
copyright = "2026, Tomorro"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Names the docs cannot resolve without network access to other projects'
# inventories; they are plain type names in signatures, not broken links.
nitpicky = False
suppress_warnings: list[str] = []

html_theme = "alabaster"
html_static_path: list[str] = []
