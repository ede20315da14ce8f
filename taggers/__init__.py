"""Built-in taggers, each written exactly as a user's plugin would be. Importing this package registers
them; no module here loads a model or touches the disk at import time."""

from dolma.taggers import (  # noqa: F401
    c4,
    classifiers,
    code,
    dolma_names,
    fineweb,
    gopher,
    language,
    language_vote,
    length,
    pii,
    repetition,
    sampling,
    urls,
)
