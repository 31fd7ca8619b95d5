"""Filter pieces every app's FilterSets share: uuid filters of parents, bounded numbers and a base with `?name=`."""

import django_filters
from django.core.validators import MaxValueValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class UUIDFilter(django_filters.UUIDFilter):
    """Filters by a related object's uuid (e.g. `?customer=<uuid>`), with or without dashes.

    Django-filter rejects a malformed uuid with a 400 naming the parameter, never a 500.
    """

    def __init__(self, field_name=None, **kwargs):
        """Point at `<field_name>__uuid` so callers name only the relation."""
        if field_name and not field_name.endswith("uuid"):
            field_name = f"{field_name}__uuid"
        kwargs.setdefault("help_text", "UUID of the related object.")
        super().__init__(field_name=field_name, **kwargs)


class BoundedNumberFilter(django_filters.NumberFilter):
    """A number filter that stops at what the column holds: past `maximum`, a 400 naming the unit and limit.

    django-filter's own bound (1e50) answered "Ensure this value is less than or equal to 1e+50."; the schema
    shows the bound as the parameter's maximum.
    """

    def __init__(self, *args, maximum, unit, **kwargs):
        """Bound the filter by `maximum` `unit`s, and describe it so in the schema."""
        self.maximum, self.unit = maximum, unit
        super().__init__(*args, **kwargs)
        extend_schema_field(serializers.IntegerField(max_value=maximum, help_text=kwargs.get("help_text")))(self)

    def get_max_validator(self):
        """The bound, with a message for a person."""
        return MaxValueValidator(self.maximum, f"Must be at most {self.maximum} {self.unit}.")


class NameFilterSet(django_filters.FilterSet):
    """Base of FilterSets of named objects: `?name=` matches case-insensitively anywhere in the name."""

    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the name, case-insensitive.")
