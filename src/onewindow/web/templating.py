"""Jinja2 environments (one per language) and the helpers every template has.

In every template: ``_`` / ``ngettext`` (gettext, new style: ``_("%(n)s items", n=3)``),
``page`` (language, zone, htmx flag), ``viewer`` (the signed-in user or None),
``csrf_token``, ``csrf_field()`` (the hidden input for forms), ``static(path)``,
``url_for(name, **params)``; filters ``when`` (a timestamp in the reader's zone
and language) and ``number``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from onewindow import __version__
from onewindow.web import i18n
from onewindow.web.labels import label_filters

if TYPE_CHECKING:
    from onewindow.web.page import Page

TEMPLATES = Path(__file__).parent / "templates"


@cache
def environment(language: str) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals["static"] = lambda path: f"/static/{path}?v={__version__}"
    env.globals["languages"] = i18n.LANGUAGES
    env.globals["zones"] = i18n.ZONE_CHOICES
    env.filters["number"] = lambda value: i18n.number_text(value, language)
    env.filters.update(label_filters(language))
    return env


def render(page: Page, template: str, context: dict[str, Any]) -> str:
    env = environment(page.language)
    token = page.csrf_token

    def url_for(name: str, **params: Any) -> str:
        return str(page.request.app.url_path_for(name, **{k: str(v) for k, v in params.items()}))

    return env.get_template(template).render(
        page=page, viewer=page.viewer, request=page.request, csrf_token=token, url_for=url_for,
        csrf_field=lambda: Markup('<input type="hidden" name="csrf_token" value="%s">') % token,
        when=lambda value: i18n.datetime_text(value, page.language, page.zone),
        **context)
