"""The connection form for Airflow 3.1, built from what ``get_provider_info()`` declares for 3.2 and later.

Airflow 3.2+ reads the form (``conn-fields`` and ``ui-field-behaviour``) from the provider info and never
calls the hook's ``get_connection_form_widgets`` / ``get_ui_field_behaviour`` when those are declared.
Airflow 3.1 reads only the hook's methods: without them its form showed the bare standard fields, no
labels, no extras. These functions translate the one declaration into the methods' format, so both
Airflows show the same form from the same source.
"""

from __future__ import annotations

from typing import Any


def _connection_type() -> dict[str, Any]:
    from airflow_provider_linkedin_capi.get_provider_info import get_provider_info

    (declared,) = get_provider_info()["connection-types"]
    return declared


def ui_field_behaviour() -> dict[str, Any]:
    """``ui-field-behaviour`` in the hook method's keys (``hidden_fields``, not ``hidden-fields``)."""
    behaviour = _connection_type()["ui-field-behaviour"]
    return {
        "hidden_fields": list(behaviour.get("hidden-fields", [])),
        "relabeling": dict(behaviour.get("relabeling", {})),
        "placeholders": dict(behaviour.get("placeholders", {})),
    }


def connection_form_widgets() -> dict[str, Any]:
    """``conn-fields`` as WTForms fields: secrets as password fields, integers as integer fields.

    Numbers with a fraction are text fields (Flask-AppBuilder has no decimal widget); the hook reads every
    extra from text as well.
    """
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, PasswordField, StringField
    from wtforms.validators import Optional

    widgets: dict[str, Any] = {}
    for name, field in _connection_type()["conn-fields"].items():
        schema = field.get("schema", {})
        types = schema.get("type", [])
        types = [types] if isinstance(types, str) else types
        if schema.get("format") == "password":
            field_class, widget = PasswordField, BS3PasswordFieldWidget()
        elif "integer" in types:
            field_class, widget = IntegerField, BS3TextFieldWidget()
        else:
            field_class, widget = StringField, BS3TextFieldWidget()
        widgets[name] = field_class(
            lazy_gettext(field["label"]),
            widget=widget,
            description=field.get("description", ""),
            default=schema.get("default"),
            validators=[Optional()],
        )
    return widgets
