"""Helpers the browser views share for Django forms."""

from django import forms


def form_error(form: forms.Form) -> str:
    """The first error of an invalid form as "field: message", for a message beside the form."""
    field, errors = next(iter(form.errors.items()))
    return f"{field}: {errors[0]}"
