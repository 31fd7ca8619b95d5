"""Filter pieces every app's FilterSets share: uuid filters of parents and a base with `?name=`."""

import django_filters


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


class NameFilterSet(django_filters.FilterSet):
    """Base of FilterSets of named objects: `?name=` matches case-insensitively anywhere in the name."""

    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the name, case-insensitive.")
