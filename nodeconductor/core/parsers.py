"""The API's JSON parser: DRF's, refusing bodies nested so deep that parsing or walking them exhausts the stack.

json gives up on about a thousand levels with RecursionError, which DRF's parser lets through (it turns only
ValueError into a ParseError), so 100,000 `[` were a 500. Some hundreds of levels parse, but any code that
walks the value recursively afterwards (serializers, the event log) could still fail; no request of the API
needs more than a few levels, so anything past MAX_JSON_DEPTH is refused as a 400 parse_error.
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError

# Levels of arrays and objects within each other: [] and {} are 1, [[]] is 2; a scalar is 0.
MAX_JSON_DEPTH = 64
TOO_DEEP = (
    f"JSON parse error - arrays and objects are nested deeper than {MAX_JSON_DEPTH} levels, the most the API accepts."
)


def too_deep(value, limit=MAX_JSON_DEPTH):
    """Whether a parsed value nests arrays and objects deeper than `limit`; walked with a stack, not recursion."""
    todo = [(value, 1)]
    while todo:
        node, level = todo.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if level > limit:
            return True
        todo.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with a depth limit: a body nested past MAX_JSON_DEPTH levels is a 400 parse_error."""

    def parse(self, stream, media_type=None, parser_context=None):
        """Parse as DRF does; refuse what json cannot nest (RecursionError) or what nests past the limit."""
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if too_deep(data):
            raise ParseError(TOO_DEEP)
        return data
