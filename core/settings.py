"""The one settings class: every knob of gptu, read from GPTU_* environment variables or .env."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

AB_FILE = "ab.toml"  # the A/B test `gptu ab start` writes in GPTU_DATA_DIR


class Settings(BaseSettings):
    """gptu settings. Build once at start-up and pass it in; never re-read it mid-code."""

    model_config = SettingsConfigDict(env_prefix="GPTU_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Where files, SQLite and Chroma data live.")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite in data_dir.")
    db_pool_size: int = Field(10, ge=1, description="Database connections each process keeps open.")
    db_max_overflow: int = Field(
        20, ge=0, description="Extra database connections a process may open under load."
    )
    db_pool_timeout: float = Field(
        10, gt=0, description="Seconds a request waits for a database connection (then 503)."
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Celery broker and results.")
    chroma_host: str = Field("127.0.0.1", description="Chroma server host.")
    chroma_port: int = Field(8001, description="Chroma server port.")
    host: str = Field("127.0.0.1", description="API bind address.")
    port: int = Field(8000, description="API port.")
    api_url: str = Field("http://127.0.0.1:8000", description="API address the CLI talks to.")
    max_upload_mb: float = Field(100, description="Largest accepted file, in MB (413 above).")
    max_request_mb: float = Field(
        256,
        gt=0,
        description="Largest upload request, all its files together, in MB (413 above, before "
        "more is read); never below GPTU_MAX_UPLOAD_MB.",
    )
    max_body_mb: float = Field(
        4, gt=0, description="Largest body of any other request (JSON), in MB (413 above)."
    )
    max_unpacked_mb: float = Field(
        1024, description="Largest total unpacked size of a zip-based file (bomb guard), in MB."
    )
    chunk_chars: int = Field(1000, ge=200, description="Target characters per chunk.")
    embed_batch: int = Field(32, ge=1, description="Chunks per embedding batch.")
    embedder: str = Field(
        "minilm",
        pattern="^(minilm|bge-small)$",
        description="Embedder of new collections: minilm or bge-small (each collection keeps "
        "its own; `gptu reindex` changes it).",
    )
    ocr: bool = Field(
        True,
        description="Read PDF pages that have no text, and png/jpg/tiff images, with OCR "
        "(Tesseract, in-process); false: such files fail saying so.",
    )
    ocr_dpi: int = Field(
        200, ge=72, le=600, description="Resolution a scanned PDF page is rendered at for OCR."
    )
    ocr_max_pages: int = Field(
        500, ge=1, description="Most pages of one document that OCR reads (more: it fails)."
    )
    ocr_time_limit: int = Field(
        1800,
        ge=10,
        description="Seconds OCR may take for one document, and for the scans of one batch "
        "together (capped by GPTU_TASK_TIME_LIMIT); a scan that would take longer fails early, "
        "saying so.",
    )
    worker_concurrency: int = Field(1, ge=1, description="Parallel tasks per worker process.")
    workers_per_host: int = Field(
        1, ge=1, description="Worker processes sharing this machine's cores (sizes threads)."
    )
    worker_threads: int = Field(
        0,
        ge=0,
        description="Threads per task (onnxruntime, BLAS); 0 = cores / (workers * concurrency).",
    )
    worker_nice: int = Field(10, ge=0, le=19, description="CPU niceness of workers (chat first).")
    chat_priority_wait: float = Field(
        60,
        ge=0,
        description="Seconds a worker pauses in a row, between two batches of its work, while "
        "the chat model generates; it then works as long before it pauses again (0: never).",
    )
    worker_max_memory_mb: int = Field(
        1024, ge=0, description="Replace a worker process after a task that left it above this RSS."
    )
    batch_documents: int = Field(
        32,
        ge=1,
        description="Small files of one upload ingested together in one task (one embedding call, "
        "one write per index); 1 = a task per file.",
    )
    batch_max_kb: int = Field(
        64, ge=0, description="Files up to this size (KB) count as small for batch_documents."
    )
    start_timeout: float = Field(
        300,
        ge=0,
        description="Seconds gptu serve, gptu worker and gptu migrate wait at start for the "
        "database and Chroma (the worker also for Redis) to answer before giving up.",
    )
    task_time_limit: int = Field(
        3600, ge=10, description="Hard limit for one task (a document or a batch), seconds."
    )
    visibility_timeout: int = Field(
        7200, ge=5, description="Seconds before Redis redelivers a task whose worker vanished."
    )
    requeue_after: int = Field(
        900,
        ge=5,
        description="Seconds a document may sit queued before the sweeper re-sends it "
        "(only while no task waits in the queue).",
    )
    sweep_interval: float = Field(5.0, gt=0, description="Seconds between sweeper passes.")
    doctor_interval: float = Field(
        3600,
        ge=0,
        description="Seconds between the API's `gptu doctor --fix` passes; 0 turns them off.",
    )
    search_pool: int = Field(50, ge=1, description="Candidates per index before fusion.")
    collection_margin: float = Field(
        0.0,
        ge=0,
        description="When several collections are searched, only those whose best passage's "
        "cosine is within this of the best collection's are kept (0 = all).",
    )
    search_k: int = Field(5, ge=1, le=100, description="Default number of search results.")
    model: str = Field(
        "smollm2-135m", description="Chat model: a models/catalog.toml name or a .gguf path."
    )
    model_cache: Path = Field(
        Path.home() / ".cache" / "gptu" / "models",
        description="Where models assembled from part packages are kept.",
    )
    context_size: int = Field(4096, ge=512, description="Context window (capped by the model's).")
    n_gpu_layers: int = Field(0, description="Layers offloaded to a GPU (-1 = all; CUDA build).")
    llm_threads: int = Field(0, ge=0, description="Generation threads; 0 = all cores.")
    llm_url: str = Field("", description="OpenAI-compatible server to use instead of in-process.")
    llm_model: str = Field("", description="Model name sent to GPTU_LLM_URL (default GPTU_MODEL).")
    queue_timeout: float = Field(30, gt=0, description="Seconds a question waits for the model.")
    max_waiting: int = Field(
        32, ge=1, description="Questions that may wait for the model at once; more get 503."
    )
    max_answer_tokens: int = Field(256, ge=16, description="Longest answer, in tokens.")
    min_similarity: float = Field(
        0.38, description="Below this best-passage cosine the answer is 'not found'."
    )
    source_floor: float = Field(
        0.25, description="Passages below this cosine are neither read by the model nor listed."
    )
    chat_k: int = Field(4, ge=1, le=20, description="Passages given to the model.")
    context_tokens: int | None = Field(
        None,
        ge=0,
        description="Tokens of passage text the model reads: the best whole units (paragraph, "
        "list, table row, FAQ entry) in document order; 0 = whole passages; unset = the "
        "model's own (models/catalog.toml).",
    )
    answer_check: str = Field(
        "quote",
        pattern="^(off|quote|refuse)$",
        description="An answer stating a number or name no passage holds, or a number its quote "
        "contradicts, is replaced by the quote (quote) or the refusal (refuse), or kept (off).",
    )
    names_check: bool = Field(
        True,
        description="Refuse, saying what is missing and quoting the closest unit, when the "
        "question names something (a name, an acronym) no document of its collections mentions.",
    )
    log_level: str = Field("INFO", description="Logging level.")
    log_format: str = Field("json", pattern="^(json|text)$", description="json lines or text.")
    redact_pii: bool = Field(
        False, description="Replace e-mails, phones, IBANs, card numbers in chunks at ingestion."
    )
    grounded_only: bool = Field(
        False,
        description="Refuse unless a passage reaches GPTU_MIN_SUPPORT and the answer's "
        "words come from the passages (answers then arrive whole, not streamed).",
    )
    min_support: float = Field(
        0.45, description="Best-passage cosine needed in grounded-only mode."
    )
    variants_file: Path | None = Field(
        None,
        description="TOML file of A/B variants (prompt, chat_k, fusion, model); none = "
        "GPTU_DATA_DIR/ab.toml if `gptu ab start` wrote one, else no A/B test.",
    )
    auth_failures: int = Field(
        20,
        ge=0,
        description="Wrong API keys one address may send per GPTU_AUTH_WINDOW before "
        "its key checks get 429 with Retry-After; 0 = no limit.",
    )
    auth_window: float = Field(60, gt=0, description="Seconds over which wrong keys are counted.")
    admin_token: str = Field(
        "", description="API key of the admin made on first start; empty = generate, print once."
    )
    api_key: str = Field("", description="API key the CLI (gptu ingest, gptu ask, gptu mcp) sends.")
    public_url: str = Field(
        "",
        description="The address people open (https://gptu.example.com): sign-in links and the "
        "SSO callback are made from it, and cookies are Secure when it is https. Empty = the "
        "address of each request.",
    )
    session_idle_minutes: float = Field(
        480, gt=0, description="A web session ends after this many minutes without a request."
    )
    session_max_hours: float = Field(
        168, gt=0, description="A web session ends this many hours after sign-in, used or not."
    )
    sign_in_link_hours: float = Field(
        72, gt=0, description="Hours a one-time link to set a password stays valid."
    )
    oidc_issuer: str = Field(
        "", description="OpenID Connect issuer URL for single sign-on; empty = no SSO."
    )
    oidc_client_id: str = Field("", description="This gptu's client id at the identity provider.")
    oidc_client_secret: str = Field("", description="This gptu's client secret at the provider.")
    oidc_create_users: bool = Field(
        False, description="Create a gptu user on a person's first SSO sign-in (else refuse)."
    )
    oidc_groups_claim: str = Field(
        "groups",
        description="ID token claim whose names become the person's gptu groups at each SSO "
        "sign-in; empty = groups are managed in gptu.",
    )
    oidc_label: str = Field(
        "Single sign-on", description="What the sign-in page's SSO button says."
    )
    slack_bot_token: str = Field("", description="Slack bot token (xoxb-…); empty = no Slack.")
    slack_signing_secret: str = Field("", description="Slack signing secret (HTTP mode).")
    slack_app_token: str = Field("", description="Slack app-level token (xapp-…, Socket Mode).")
    slack_api_url: str = Field(
        "https://slack.com/api/", description="Slack Web API base URL (a proxy or a test server)."
    )
    slack_wait: float = Field(
        600, gt=0, description="Seconds a Slack question may wait for the model in a busy queue."
    )

    secret_key: str = Field(
        "",
        description="Key that encrypts sources' passwords and tokens at rest (any long random "
        "string; keep it out of backups); empty = a key made once in GPTU_DATA_DIR/secret.key.",
    )
    source_interval: int = Field(
        60, ge=1, description="Minutes between syncs of a new source unless it names its own."
    )
    source_max_items: int = Field(
        500,
        ge=1,
        description="Most new or changed items one sync of a source reads; the rest wait for "
        "its next sync (a mailbox of 50,000 messages fills in over several).",
    )
    source_check: float = Field(
        60, gt=0, description="Seconds between Celery beat's checks for sources due a sync."
    )

    @field_validator("context_tokens", "variants_file", mode="before")
    @classmethod
    def empty_is_unset(cls, value: object) -> object:
        """`GPTU_CONTEXT_TOKENS=` (as in .env.example) means the model's own budget, and
        `GPTU_VARIANTS_FILE=` no file (not the current folder)."""
        return None if value == "" else value

    @field_validator("admin_token")
    @classmethod
    def long_token(cls, value: str) -> str:
        """A guessable admin token would open everything."""
        if value and len(value) < 16:
            raise ValueError("GPTU_ADMIN_TOKEN must be at least 16 characters")
        return value

    @field_validator("data_dir", "model_cache", "variants_file")
    @classmethod
    def absolute_path(cls, value: Path | None) -> Path | None:
        """Every path made absolute once, here (~ allowed, as written in .env files): `make run`
        keeps its data in the relative `data/`, and no later code may meet a relative path
        (LibreOffice's profile URI, a worker that changes folder)."""
        return None if value is None else value.expanduser().absolute()

    @property
    def model_comparison_file(self) -> Path:
        """The last `gptu eval --models` comparison, which the admin page shows."""
        return model_comparison_file(self.data_dir)

    @property
    def experiment_file(self) -> Path | None:
        """The A/B test's variants: GPTU_VARIANTS_FILE, else the ab.toml `gptu ab start` wrote."""
        if self.variants_file:
            return self.variants_file
        started = self.data_dir / AB_FILE
        return started if started.is_file() else None

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to SQLite inside data_dir; postgresql:// uses psycopg 3."""
        url = self.database_url or f"sqlite:///{self.data_dir / 'gptu.db'}"
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+psycopg://" + url[len(plain) :]
        return url

    @property
    def postgres(self) -> bool:
        """Whether SQL lives in Postgres (the lexical index then lives there too)."""
        return self.sqlalchemy_url.startswith("postgresql")

    @property
    def files_dir(self) -> Path:
        """Where uploaded files are stored, by sha256."""
        return self.data_dir / "files"

    @property
    def scratch_dir(self) -> Path:
        """Workers' parsing folders, one per process, outside the file store."""
        return self.data_dir / "scratch"

    @property
    def lexical_path(self) -> Path:
        """The SQLite FTS5 lexical index file."""
        return self.data_dir / "lexical.db"

    @property
    def chroma_path(self) -> Path:
        """Where the local Chroma server keeps its data."""
        return self.data_dir / "chroma"

    @property
    def web_url(self) -> str:
        """The address people open: GPTU_PUBLIC_URL, else the API's own host and port."""
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    @property
    def max_upload_bytes(self) -> int:
        """max_upload_mb in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_request_bytes(self) -> int:
        """An upload request's limit in bytes: one file at the largest size fits, with its
        form's headers."""
        return int(max(self.max_request_mb, self.max_upload_mb + 1) * 1024 * 1024)

    @property
    def max_body_bytes(self) -> int:
        """max_body_mb in bytes."""
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def max_unpacked_bytes(self) -> int:
        """max_unpacked_mb in bytes."""
        return int(self.max_unpacked_mb * 1024 * 1024)

    def threads_per_task(self) -> int:
        """Threads one task may use so that workers never oversubscribe the CPU."""
        if self.worker_threads:
            return self.worker_threads
        tasks = self.worker_concurrency * self.workers_per_host
        return max(1, (os.cpu_count() or 1) // tasks)


def model_comparison_file(data_dir: Path) -> Path:
    """Where a data folder keeps the last `gptu eval --models` comparison."""
    return data_dir / "eval" / "models-last.json"
