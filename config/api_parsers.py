"""The API's JSON parser: DRF's own, with a limit on how deeply a body may nest.

Python's JSON decoder recurses once per level of nesting: a body of a thousand `[` exhausts the interpreter's
recursion limit (a RecursionError, so a 500, before authentication even runs), and a depth it survives would
still reach serializers and the error renderer, which recurse too. No request of this API nests more than a
few levels (a cart's items are three), so a body deeper than MAX_JSON_DEPTH is refused as malformed.
"""

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Levels of arrays and objects: `[]` is 1, `{"items": [{}]}` is 3. Generous for any request this API takes.
MAX_JSON_DEPTH = 32


def json_depth_exceeds(value, *, limit: int) -> bool:
    """Return whether `value` (decoded JSON) nests arrays and objects deeper than `limit` levels.

    Iterative, so any depth the decoder produced is measured without recursing.
    """
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class DepthLimitedJSONParser(JSONParser):
    """DRF's JSONParser that refuses a body nested deeper than `max_depth` (ParseError, `malformed_request`)."""

    max_depth = MAX_JSON_DEPTH

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # Deeper than the interpreter's own limit: certainly deeper than ours.
            raise ParseError(self.too_deep_message()) from None
        if json_depth_exceeds(data, limit=self.max_depth):
            raise ParseError(self.too_deep_message())
        return data

    def too_deep_message(self) -> str:
        return _("The JSON body nests arrays and objects more than %(limit)d levels deep.") % {"limit": self.max_depth}
