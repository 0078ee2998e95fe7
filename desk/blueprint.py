"""The desk's one blueprint, mounted at /desk by the app factory (hotline.web).

Every view module of the desk (desk.auth, desk.views, and the agent and supervisor pages)
adds its routes to this `bp`, each under `@requires(...)` or `@public` (desk.access), and
is named in desk.VIEW_MODULES so that it is imported before the blueprint is registered.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint(
    "desk",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
PREFIX = "/desk"
