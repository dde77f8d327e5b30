"""Rule packs shipped as data: rules/base/ and hospital overlays in rules/hospitals/."""
