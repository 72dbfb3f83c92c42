"""Domain errors, raised by the core and translated once at each edge (CLI exit, HTTP status)."""


class FrameSearchError(Exception):
    """Base of every error framesearch reports to a user: the message says what and why."""

    http_status = 500

    @property
    def code(self) -> str:
        """The error's name in API answers (`{"error": code, "detail": message}`)."""
        return type(self).__name__


class InvalidInput(FrameSearchError):
    """A user-supplied value (file, option, request field) is malformed or out of range."""

    http_status = 422


class ResultsFormatError(InvalidInput):
    """A Roboflow-style results JSON cannot be parsed or fails validation."""


class WrongModel(InvalidInput):
    """Vectors whose size contradicts the model they are said to come from."""


class NotFound(FrameSearchError):
    """A named video, job or collection does not exist."""

    http_status = 404


class StoreMissing(NotFound):
    """A read asked for a store (an Edge folder) that does not exist: reading never creates one."""


class CollectionMissing(NotFound):
    """A read named a collection the store does not hold: reading never creates one."""


class VideoFileUnavailable(NotFound):
    """A video is indexed but its file is not here (results imported without the video, or the file moved)."""


class ModelMismatch(FrameSearchError):
    """Vectors of one embedding model were about to meet vectors of another."""

    http_status = 409


class Unauthorized(FrameSearchError):
    """The service needs an API key and the request carries none, or a wrong one."""

    http_status = 401


class Forbidden(FrameSearchError):
    """The request is understood and authenticated, but not allowed (a read-only key writing, a foreign page)."""

    http_status = 403


class InsecureBinding(FrameSearchError):
    """The service was asked to listen beyond this machine without any API key."""


class PortInUse(InvalidInput):
    """`serve` cannot listen on the port it was given (another process holds it)."""


class StoreLocked(FrameSearchError):
    """The embedded store is held by another process (usually a running `framesearch serve`)."""

    http_status = 423


class StoreError(FrameSearchError):
    """The vector store failed or is unreachable."""

    http_status = 503


class StoreReadOnly(StoreError):
    """The store can be read but not written (a read-only filesystem or folder)."""


class StoreDamaged(StoreError):
    """The store's files are damaged or its records disagree with its points."""


class DiskFull(StoreError):
    """Not enough free disk space for a write; nothing was written (or the write was rolled back)."""

    http_status = 507


class VideoBusy(FrameSearchError):
    """Another write to the same video id is in progress; one writer per video at a time."""

    http_status = 409


class ModelError(FrameSearchError):
    """A model folder or model service is missing, incomplete or failing."""

    http_status = 400


class _AnsweredAsModelError(ModelError):
    """A finer kind of ModelError for the edges' hints; API answers keep the code `ModelError` (a contract)."""

    @property
    def code(self) -> str:
        return "ModelError"


class ModelNotFound(_AnsweredAsModelError):
    """A model name that is no folder, no bundled model and no pulled model."""


class ApiKeyMissing(_AnsweredAsModelError):
    """A remote model (Roboflow's CLIP) was chosen without the API key it needs."""


class NoModelChosen(_AnsweredAsModelError):
    """Nothing names a model: no model was given and the collection records none (it is empty)."""


class LibraryEmpty(FrameSearchError):
    """A search of a collection that holds nothing yet (so no model to embed the query with, and nothing to find).
    `store_options` name the store on a command line (the CLI adds them; HTTP answers name no server paths)."""

    http_status = 409

    def __init__(self, message: str, store_options: list[str] | None = None) -> None:
        super().__init__(message)
        self.store_options = store_options or []


class NoImageModel(FrameSearchError):
    """The service has no model to embed video frames with, so it cannot index videos (it may still search)."""

    http_status = 409


class MissingDependency(FrameSearchError):
    """An optional package needed for this operation is not installed."""


class UpstreamError(FrameSearchError):
    """A remote API (Roboflow) answered with an error."""

    http_status = 502


class PayloadTooLarge(InvalidInput):
    """An upload exceeds the configured size limit."""

    http_status = 413


class JobFailed(UpstreamError):
    """A remote inference job ended in failure (or its results are gone)."""


class JobTimeout(UpstreamError):
    """A remote inference job did not finish within the allowed time; it may still finish later."""

    http_status = 504

    def __init__(self, message: str, job_id: str | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id


class UpstreamUnavailable(UpstreamError):
    """A remote API is unreachable or answered 5xx: worth retrying later."""

    http_status = 503


class TargetNotEmpty(FrameSearchError):
    """A copy's target store already holds other videos (copying would mix two libraries)."""

    http_status = 409
