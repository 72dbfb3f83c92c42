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


class VideoFileUnavailable(NotFound):
    """A video is indexed but its file is not here (results imported without the video, or the file moved)."""


class ModelMismatch(FrameSearchError):
    """Vectors of one embedding model were about to meet vectors of another."""

    http_status = 409


class StoreLocked(FrameSearchError):
    """The embedded store is held by another process (usually a running `framesearch serve`)."""

    http_status = 423


class StoreError(FrameSearchError):
    """The vector store failed or is unreachable."""

    http_status = 503


class ModelError(FrameSearchError):
    """A model folder or model service is missing, incomplete or failing."""

    http_status = 400


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
