"""Entity tags: a product's version as a strong ETag, and If-Match read as RFC 9110 defines it.

Hand-written: the entity-tag grammar is two regular expressions, and no dependency of this service
parses it (werkzeug's parse_etags would bring a whole WSGI toolkit for a dozen lines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from api_service.errors import BadRequest

# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text (RFC 9110 8.8.3)
_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
# #entity-tag: a comma-separated list whose empty elements a recipient must accept (RFC 9110 5.6.1)
_TAG_LIST = re.compile(rf"[ \t,]*{_TAG}(?:[ \t]*,[ \t,]*{_TAG})*[ \t,]*")
_ANY = re.compile(r"[ \t]*\*[ \t]*")
# What the OpenAPI document publishes: `*` or a list of entity tags, printable ASCII only (a
# subset of what the parser accepts, so every schema-valid value is understood).
_ASCII_TAG = r'(W/)?"[!#-~]*"'
IF_MATCH_PATTERN = rf"^[ \t]*(\*|{_ASCII_TAG}([ \t]*,[ \t]*{_ASCII_TAG})*)[ \t]*$"
_EACH_TAG = re.compile(r'(W/)?"([^"]*)"')
# A version as entity_tag() writes it: no sign, no leading zero, within a 64-bit integer.
_VERSION = re.compile(r"0|[1-9][0-9]{0,17}")


def entity_tag(version: int) -> str:
    """The strong ETag of a product at this version: the version number, quoted."""
    return f'"{version}"'


@dataclass(frozen=True)
class IfMatch:
    """A parsed If-Match: `*` (versions is None) or the versions its strong tags name.

    If-Match compares strongly, so a weak tag (W/"3") never matches, and neither does a tag this
    API never issues ("03", "abc"): those add no version, and a list of only such tags matches none.
    """

    versions: frozenset[int] | None

    @property
    def names_versions(self) -> bool:
        """True when the header lists entity tags, False for `*` (any current version)."""
        return self.versions is not None


def parse_if_match(value: str) -> IfMatch:
    """Read an If-Match field value (several header lines joined with ", "); 400 when malformed."""
    if _ANY.fullmatch(value):
        return IfMatch(None)
    if not _TAG_LIST.fullmatch(value):
        raise BadRequest(
            f"If-Match must be * or a list of quoted entity tags such as {entity_tag(3)}"
            " (the ETag of GET /products/{id})"
        )
    versions = frozenset(
        int(opaque)
        for weak, opaque in _EACH_TAG.findall(value)
        if not weak and _VERSION.fullmatch(opaque)
    )
    return IfMatch(versions)
