"""``python -m policylang.schemas``: regenerate the shipped JSON Schemas from the models."""

from policylang.schemas import write_shipped

for path in write_shipped():
    print(path)
