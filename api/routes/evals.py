"""Evaluation for admins: the last comparison of the chat models (`gptu eval --models`)."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import AdminUser
from api.deps import ServicesDep
from api.schemas import ModelComparison
from core.errors import NotFound

router = APIRouter(prefix="/v1/eval", tags=["eval"])


@router.get("/models")
def last_model_comparison(_: AdminUser, services: ServicesDep) -> ModelComparison:
    """The last `gptu eval FILE --collection C --models a,b` run: each model's figures (admin);
    404 until one ran."""
    path = services.settings.model_comparison_file
    if not path.is_file():
        raise NotFound(
            "no model comparison was run yet; run "
            "`gptu eval FILE.jsonl --collection C --models a,b` on the server"
        )
    return ModelComparison.model_validate_json(path.read_bytes())
