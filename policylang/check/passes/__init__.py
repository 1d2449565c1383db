"""The checker's passes, in the order they run. One file each."""

from policylang.check.passes import names

PASSES = (
    ("names", names.run),
)
