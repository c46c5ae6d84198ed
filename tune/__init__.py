"""GPT-U tuning: LoRA on a packaged GGUF, merged and written back as GGUF.

Everything in this package runs in the tuning environment (`make tune-env` → .venv-tune) and
imports only the standard library and that environment's packages (torch, transformers, peft,
gguf, numpy); no gptu room imports it, and it imports none of them. `tune.config` is standard
library only, so the `gptu tune` command (main venv) writes the run's config with it.
"""
