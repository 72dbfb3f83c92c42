"""Index a parsed results file: decide which model made its vectors, at what rate, under which id; then write it.

The CLI (`ingest results`, one file after another) and the service (`POST /videos/{id}/results`) both call
`ingest_parsed_results`; a dry run makes every decision and check but writes nothing.
"""

from __future__ import annotations

from framesearch.embedders.base import ROBOFLOW_CLIP_MODEL
from framesearch.embedders.resolve import ModelIdentity, known_dim, model_identity
from framesearch.errors import ModelError, ModelMismatch, WrongModel
from framesearch.ingest.ids import same_bytes_warning
from framesearch.ingest.index import IngestReport, ingest_results
from framesearch.ingest.requests import ResultsIngest
from framesearch.ingest.results import ParsedResults
from framesearch.settings import Settings
from framesearch.store.base import VectorStore
from framesearch.store.schema import CollectionInfo, VideoRecord
from framesearch.validation import check_video_id


def named_identity(spec: str, settings: Settings, collection: CollectionInfo | None) -> ModelIdentity:
    """The identity of a model named by the caller: the collection's own model or the configured model by its
    name, else whatever the resolver finds (a folder, a bundled or pulled model, Roboflow)."""
    if collection is not None and spec == collection.model:
        return ModelIdentity(collection.model, collection.dim, collection.model_path)
    if settings.model and settings.model != spec:
        try:
            configured = model_identity(settings.model, settings)
        except ModelError:
            configured = None
        if configured is not None and configured.accepts(spec):
            return configured
    return model_identity(spec, settings)


def results_identity(
    parsed: ParsedResults, spec: str | None, settings: Settings, collection: CollectionInfo | None
) -> tuple[ModelIdentity, list[str]]:
    """The model the vectors come from: the one named, else the one the file records, else Roboflow's CLIP."""
    if spec is not None:
        return named_identity(spec, settings, collection), []
    recorded = parsed.meta.model
    if not recorded:
        return ModelIdentity(ROBOFLOW_CLIP_MODEL, known_dim(ROBOFLOW_CLIP_MODEL)), []
    try:
        identity = named_identity(recorded, settings, collection)
    except ModelError:  # a model folder that is not here: its recorded name is still its identity
        identity = ModelIdentity(recorded)
    return identity, [f"model {identity.name}, as the file records"]


def check_dimension(parsed: ParsedResults, identity: ModelIdentity, where: str) -> None:
    """Refuse vectors whose size contradicts the model they are said to come from."""
    if identity.dim is not None and identity.dim != parsed.dim:
        raise WrongModel(f"{where}: the file's vectors are {parsed.dim}-d but {identity.name} makes {identity.dim}-d ones")


def results_fps(parsed: ParsedResults, given: float | None) -> tuple[float | None, list[str]]:
    """The sampling rate: the one given, else the file's own, else derived from the time offsets (and said so)."""
    if given:
        return given, []
    if parsed.meta.fps and parsed.meta.fps > 0:
        return parsed.meta.fps, [f"sampling rate {parsed.meta.fps:g} fps, as the file records"]
    derived = parsed.sample_fps()
    if derived is None:
        return None, ["sampling rate unknown (fewer than two distinct times); give it to record one"]
    return derived, [f"sampling rate {derived:g} fps, derived from the time offsets (median step); give it to override"]


def _check_collection(collection: CollectionInfo | None, model: str, dim: int, description: str) -> None:
    if collection is not None and (collection.model != model or collection.dim != dim):
        raise ModelMismatch(
            f"{description} holds vectors of model {collection.model!r} ({collection.dim} dims); "
            f"refusing vectors of model {model!r} ({dim} dims). Use another collection or store for another model."
        )


def ingest_parsed_results(
    store: VectorStore,
    parsed: ParsedResults,
    req: ResultsIngest,
    settings: Settings,
    *,
    default_id: str | None,
    where: str,
    source: str = "results",
    path: str | None = None,
) -> IngestReport:
    """Index (or, for a dry run, describe) a validated results file as one video of the library."""
    video_id = check_video_id(req.video_id or default_id)
    collection = store.info()
    identity, notes = results_identity(parsed, req.model, settings, collection)
    check_dimension(parsed, identity, where)
    model = identity.recorded(collection.model if collection else None)
    _check_collection(collection, model, parsed.dim, store.description)
    fps, fps_notes = results_fps(parsed, req.fps)
    warning = same_bytes_warning(store, video_id, parsed.content_hash, what="results (frames and vectors)")
    more = {"notes": notes + fps_notes, "warnings": [warning] if warning else []}
    if req.dry_run:
        record = VideoRecord(
            video_id=video_id,
            model=model,
            source=source,
            frames=len(parsed.frames),
            fps=fps,
            duration=parsed.timestamps[-1],
            path=path,
            content_hash=parsed.content_hash,
            skipped_frames=parsed.skipped,
            extra={"video_fps": parsed.video_fps(), "dim": parsed.dim},
        )
        return IngestReport.of(record, dry_run=True, **more)
    record = ingest_results(
        store,
        parsed,
        video_id,
        fps=fps,
        model=model,
        source=source,
        path=path,
        model_path=identity.model_path,
        content_hash=parsed.content_hash,
    )
    return IngestReport.of(record, **more)
