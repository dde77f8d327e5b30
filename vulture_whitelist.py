"""Names vulture (`make test`'s dead-code check) cannot see being used, each with the reason.

Vulture reads this file as code: an attribute named here counts as used.
"""

# ruff: noqa: B018

from classifier.data.dicomio import Header
from classifier.data.transforms import AugmentParams

# link.KEYS names the header fields a --key reads; link.py takes them with getattr.
Header.accession
Header.study_uid
Header.study_date
# The reader of the manifest's `augment` column, for anyone redoing an offline augmentation.
AugmentParams.from_json
# io.RawIOBase's protocol, called by io and pydicom's reader on the lazily inflated stream.
from classifier.data.dicomsize import _Inflating  # noqa: E402

_Inflating.readable
_Inflating.seekable
_Inflating.readinto
_Inflating.seek
_Inflating.tell
