"""The form renderer (settings.FORM_RENDERER): Django's, with its smallest templates in Python.

Django renders every input, label, `<option>` and checkbox through a template include: the
filter form of a list page (9 fields, 50 Sub-CPOs, 200 payout accounts) spent more time on that
than on the page's query. `QuickFormRenderer` writes the same HTML for Django's own input,
select, checkbox, multi-widget and label templates, character for character (tests/test_form_
renderer.py compares it with Django's templates), and leaves every other template to Django.
"""

from django.forms.renderers import DjangoTemplates
from django.utils.html import conditional_escape, strip_spaces_between_tags
from django.utils.safestring import mark_safe

INPUT_TEMPLATES = {
    f"django/forms/widgets/{name}.html"
    for name in (
        "input",
        "text",
        "number",
        "date",
        "datetime",
        "time",
        "search",
        "email",
        "url",
        "tel",
        "hidden",
        "password",
    )
}
OPTION_TEMPLATES = {
    "django/forms/widgets/checkbox_option.html",
    "django/forms/widgets/radio_option.html",
    "django/forms/widgets/input_option.html",
}
SELECT_OPTION = "django/forms/widgets/select_option.html"
MULTIPLE_INPUT_TEMPLATES = {
    "django/forms/widgets/checkbox_select.html",
    "django/forms/widgets/radio.html",
    "django/forms/widgets/multiple_input.html",
}
MULTIWIDGET = "django/forms/widgets/multiwidget.html"


class NotQuick(Exception):
    """A widget this renderer does not write itself (Django's template renders it)."""


def _text(value) -> str:
    """`{{ value|stringformat:'s' }}`: the value as text, escaped unless it is safe."""
    return conditional_escape(value if hasattr(value, "__html__") else str(value))


def _attributes(attrs: dict) -> str:
    """attrs.html: each attribute in order; True bare, False left out."""
    return "".join(
        f" {name}" if value is True else f' {name}="{_text(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


def _input(widget: dict) -> str:
    """input.html (its trailing newline is the caller's)."""
    value = "" if widget["value"] is None else f' value="{_text(widget["value"])}"'
    return (
        f'<input type="{conditional_escape(widget["type"])}" '
        f'name="{conditional_escape(widget["name"])}"{value}{_attributes(widget["attrs"])}>'
    )


def _input_option(option: dict) -> str:
    """input_option.html, with the newlines its includes end with (they show in the HTML)."""
    template_name = option["template_name"]
    if template_name not in OPTION_TEMPLATES:
        raise NotQuick
    if option.get("wrap_label"):
        element_id = option["attrs"].get("id")
        label_for = f' for="{conditional_escape(element_id)}"' if element_id else ""
        html = f"<label{label_for}>{_input(option)}\n {conditional_escape(option['label'])}</label>"
    else:
        html = f"{_input(option)}\n"
    return html + ("\n" if template_name.endswith("/input_option.html") else "\n\n")


def _select(widget: dict) -> str:
    parts = [f'<select name="{conditional_escape(widget["name"])}"{_attributes(widget["attrs"])}>']
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
        for option in options:
            if option["template_name"] != SELECT_OPTION:
                raise NotQuick
            parts.append(
                f'\n  <option value="{_text(option["value"])}"{_attributes(option["attrs"])}>'
                f"{conditional_escape(option['label'])}</option>\n"
            )
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


def _multiple_input(widget: dict) -> str:
    element_id, css_class = widget["attrs"].get("id"), widget["attrs"].get("class")
    parts = [
        "<div",
        f' id="{conditional_escape(element_id)}"' if element_id else "",
        f' class="{conditional_escape(css_class)}"' if css_class else "",
        ">",
    ]
    for group, options, _index in widget["optgroups"]:
        if group:
            parts.append(f"\n  <div><label>{conditional_escape(group)}</label>")
        for option in options:
            parts.append(f"<div>\n    {_input_option(option)}</div>")
        if group:
            parts.append("\n  </div>")
    parts.append("\n</div>")
    return "".join(parts)


def _widget(widget: dict) -> str:
    template_name = widget["template_name"]
    if template_name in INPUT_TEMPLATES:
        return _input(widget)
    if template_name == "django/forms/widgets/select.html":
        return _select(widget)
    if template_name in MULTIPLE_INPUT_TEMPLATES:
        return _multiple_input(widget)
    if template_name == MULTIWIDGET:
        return strip_spaces_between_tags("".join(_widget(sub) for sub in widget["subwidgets"]))
    raise NotQuick


def _label(context: dict) -> str:
    if not context["use_tag"]:
        return conditional_escape(context["label"])
    tag = conditional_escape(context["tag"])
    attrs = _attributes(context["attrs"] or {})
    return f"<{tag}{attrs}>{conditional_escape(context['label'])}</{tag}>"


class QuickFormRenderer(DjangoTemplates):
    def render(self, template_name, context, request=None):
        try:
            if template_name == "django/forms/label.html":
                return mark_safe(_label(context).strip())
            widget = context.get("widget")
            if isinstance(widget, dict) and widget.get("template_name") == template_name:
                return mark_safe(_widget(widget).strip())
        except NotQuick:
            pass
        return super().render(template_name, context, request)
