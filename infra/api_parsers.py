"""The API's JSON parser: DRF's own, with a limit on how deeply a body may nest.

Python's JSON decoder recurses once per level of nesting: a body of a thousand `[` exhausts the interpreter's
recursion limit (a RecursionError, so a 500, before authentication even runs), and a depth it survives would
still reach serializers and the error renderer, which recurse too. No request of this API nests more than a
few levels (a cart's items are three), so a body deeper than MAX_JSON_DEPTH is refused as malformed.

A body whose strings hold a NUL character (`\u0000`) is refused as malformed too: no field takes one, PostgreSQL
refuses it in text, and fields DRF does not check for it (a store's code looked up by a SlugRelatedField) would
reach the database with it.
"""

import io

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Levels of arrays and objects: `[]` is 1, `{"items": [{}]}` is 3. Generous for any request this API takes.
MAX_JSON_DEPTH = 32


def json_holds_nul(value) -> bool:
    """Return whether a string of `value` (decoded JSON), key or value, holds a NUL character."""
    level = [value]
    while level:
        below = []
        for item in level:
            if type(item) is str:
                if "\x00" in item:
                    return True
            elif type(item) is dict:
                below.extend(item.keys())
                below.extend(item.values())
            elif type(item) is list:
                below.extend(item)
        level = below
    return False


def json_depth_exceeds(value, *, limit: int) -> bool:
    """Return whether `value` (decoded JSON) nests arrays and objects deeper than `limit` levels.

    Level by level, without recursing, so any depth the decoder produced is measured safely.
    """
    level = [value] if type(value) in (dict, list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below = []
        for item in level:
            for child in item.values() if type(item) is dict else item:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below
    return False


class DepthLimitedJSONParser(JSONParser):
    """DRF's JSONParser that refuses a body nested deeper than `max_depth` (ParseError, `malformed_request`)."""

    max_depth = MAX_JSON_DEPTH

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read()
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            # Deeper than the interpreter's own limit: certainly deeper than ours.
            raise ParseError(self.too_deep_message()) from None
        # A body with no more opening brackets than levels allowed cannot nest deeper: most requests (a till's
        # cart of 20 items has 22) skip the walk. Counting bytes is sound in UTF-8 and UTF-16 alike.
        brackets = raw.count(b"[") + raw.count(b"{")
        if brackets > self.max_depth and json_depth_exceeds(data, limit=self.max_depth):
            raise ParseError(self.too_deep_message())
        if json_holds_nul(data):
            raise ParseError(_("A text of the JSON body holds a NUL character (\\u0000), which no field takes."))
        return data

    def too_deep_message(self) -> str:
        return _("The JSON body nests arrays and objects more than %(limit)d levels deep.") % {"limit": self.max_depth}
