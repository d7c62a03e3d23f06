"""The endpoints. Each one awaits the controller the window uses; nothing else.

Every route but `GET /health` needs `Authorization: Bearer <token>`. Errors are JSON
`{"error": "..."}`: a bad or unknown id is a 404, bad input a 422, never a 500.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time, and
# they name local dependencies (the token check, the paging parameters).
import asyncio
import logging
import secrets
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from astrolens import __version__
from astrolens.app.api import schemas as s
from astrolens.app.api.events import EventHub
from astrolens.domain.agent import AgentController, CandidateQuery
from astrolens.domain.annotation import AnnotationError, AnnotationFailure
from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogVerdict
from astrolens.domain.display import NAMED_STRETCHES
from astrolens.domain.errors import UnreadableImageError
from astrolens.domain.images import ImageRecord
from astrolens.domain.labels import LabelValue
from astrolens.domain.learning import LearningController
from astrolens.domain.scoring import Verdict

log = logging.getLogger(__name__)
MAX_LIMIT = 500
_LABELS = {
    "tp": LabelValue.TRUE_POSITIVE,
    "fp": LabelValue.FALSE_POSITIVE,
    "unsure": LabelValue.UNSURE,
}
# An annotator failure as HTTP: the status a script can branch on, the words for a person.
_ANNOTATION_STATUS = {
    AnnotationFailure.NOT_RUNNING: 503,
    AnnotationFailure.MODEL_MISSING: 424,
    AnnotationFailure.NO_KEY: 424,
    AnnotationFailure.UNAUTHORIZED: 502,
    AnnotationFailure.RATE_LIMITED: 429,
    AnnotationFailure.TIMEOUT: 504,
    AnnotationFailure.NO_VISION: 422,
    AnnotationFailure.EMPTY: 502,
    AnnotationFailure.BAD_RESPONSE: 502,
    AnnotationFailure.NO_IMAGE: 404,
}


class ApiController(AgentController, LearningController, Protocol):
    """What the API needs: the window's controller and its learning loop (for /runs)."""


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _not_found(what: str) -> HTTPException:
    return HTTPException(404, what)


def _folders(names: list[str]) -> list[Path]:
    folders = [Path(f).expanduser().resolve() for f in names]
    for folder in folders:
        if not folder.is_dir():
            raise HTTPException(422, f"not a folder on this machine: {folder}")
    return folders


def create_api(controller: ApiController, token: str) -> FastAPI:
    api = FastAPI(
        title="AstroLens local API",
        version=__version__,
        description=(
            "The running AstroLens agent, for scripts and notebooks. Loopback only. "
            "Send `Authorization: Bearer <token>` (see `astrolens api-token`) on every "
            "request but `GET /health`. Lists are paged: pass `next_cursor` back as `cursor`."
        ),
    )
    hub = EventHub(controller.subscribe)
    api.state.hub = hub
    bearer = HTTPBearer(auto_error=False, description="the token of `astrolens api-token`")

    async def require_token(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if creds is None or creds.scheme.lower() != "bearer":
            raise HTTPException(401, "missing bearer token (see `astrolens api-token`)")
        if not secrets.compare_digest(creds.credentials.encode(), token.encode()):
            raise HTTPException(401, "wrong bearer token (see `astrolens api-token`)")

    auth = [Depends(require_token)]
    errors: dict[int | str, dict[str, Any]] = {
        401: {"model": s.ErrorOut},
        404: {"model": s.ErrorOut},
    }

    # ------------------------------------------------------------------ errors as JSON

    @api.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return _error(exc.status_code, str(exc.detail), headers)

    @api.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        if any(p.get("loc", ("",))[0] == "path" for p in problems):
            return _error(404, "no such item: the id must be a whole number")
        words = "; ".join(
            f"{'.'.join(str(x) for x in p.get('loc', ())[1:]) or 'body'}: {p.get('msg')}"
            for p in problems
        )
        return _error(422, f"invalid request: {words}")

    @api.exception_handler(AnnotationError)
    async def annotation_failed(_: Request, exc: AnnotationError) -> JSONResponse:
        headers = None
        if exc.retry_after_s is not None:
            headers = {"Retry-After": str(int(exc.retry_after_s + 0.999))}
        return JSONResponse(
            {"error": str(exc), "kind": exc.kind.value},
            status_code=_ANNOTATION_STATUS.get(exc.kind, 502),
            headers=headers,
        )

    @api.exception_handler(UnreadableImageError)
    async def unreadable(_: Request, exc: UnreadableImageError) -> JSONResponse:
        return _error(422, f"the stored image cannot be shown: {exc}")

    @api.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # a bug, not bad input: say so in JSON (and in the log), never an HTML page
        log.exception("API handler failed")
        return _error(500, f"internal error ({type(exc).__name__}: {exc}); see the agent's log")

    # ------------------------------------------------------------------ helpers

    async def candidate_or_404(image_id: int) -> Candidate:
        found = await controller.get_candidate(image_id)
        if found is None:
            if await controller.get_image(image_id) is not None:
                raise _not_found(f"image {image_id} was judged normal: it is not a candidate")
            raise _not_found(f"no image with id {image_id}")
        return found

    async def image_or_404(image_id: int) -> ImageRecord:
        record = await controller.get_image(image_id)
        if record is None:
            raise _not_found(f"no image with id {image_id}")
        return record

    def offset_of(cursor: str | None) -> int:
        if cursor is None:
            return 0
        if not cursor.isdigit():
            raise HTTPException(422, f"invalid cursor {cursor!r}: pass back a `next_cursor`")
        return int(cursor)

    Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
    Cursor = Annotated[str | None, Query(max_length=32, description="`next_cursor` of a page")]

    # ------------------------------------------------------------------ routes

    @api.get("/health", response_model=s.HealthOut, tags=["agent"])
    async def health() -> s.HealthOut:
        """Liveness, for anyone on this machine: only the status and the version."""
        return s.HealthOut(version=__version__)

    @api.get(
        "/images", response_model=s.ImagePage, dependencies=auth, responses=errors, tags=["images"]
    )
    async def list_images(
        limit: Limit = 50, cursor: Cursor = None, source: str | None = None
    ) -> s.ImagePage:
        """Every stored image, oldest first."""
        found = await controller.images(limit, offset_of(cursor), source)
        nxt = str(found[-1].id) if len(found) == limit else None
        return s.ImagePage(items=[s.image_out(r) for r in found], next_cursor=nxt)

    @api.get(
        "/images/{image_id}",
        response_model=s.ImageDetailOut,
        dependencies=auth,
        responses=errors,
        tags=["images"],
    )
    async def get_image(image_id: int) -> s.ImageDetailOut:
        record = await image_or_404(image_id)
        candidate = await controller.get_candidate(image_id)
        notes = await controller.annotations(image_id)
        return s.ImageDetailOut(
            image=s.image_out(record),
            candidate=s.candidate_out(candidate) if candidate else None,
            annotations=[s.annotation_out(a) for a in notes],
        )

    png = {200: {"content": {"image/png": {}}, "description": "PNG"}, **errors}

    @api.get(
        "/images/{image_id}/image.png",
        dependencies=auth,
        responses=png,
        tags=["images"],
        response_class=Response,
    )
    async def image_png(
        image_id: int,
        stretch: Annotated[str, Query(pattern="^(" + "|".join(NAMED_STRETCHES) + ")$")] = "auto",
    ) -> Response:
        """The display rendering of any stored kind (JPEG, PNG, TIFF, FITS, stamps)."""
        await image_or_404(image_id)
        data = await controller.image_png(image_id, stretch)
        if data is None:
            raise _not_found(f"image {image_id} has no stored file")
        return Response(data, media_type="image/png")

    @api.get(
        "/images/{image_id}/thumbnail.png",
        dependencies=auth,
        responses=png,
        tags=["images"],
        response_class=Response,
    )
    async def thumbnail(image_id: int) -> Response:
        await image_or_404(image_id)
        data = await controller.thumbnail_png(image_id)
        if data is None:
            raise _not_found(f"image {image_id} has no thumbnail")
        return Response(data, media_type="image/png")

    @api.get(
        "/images/{image_id}/similar",
        response_model=list[s.CandidateOut],
        dependencies=auth,
        responses=errors,
        tags=["images"],
    )
    async def similar(
        image_id: int, k: Annotated[int, Query(ge=1, le=50)] = 8
    ) -> list[s.CandidateOut]:
        """Nearest candidates in embedding space (FAISS)."""
        await image_or_404(image_id)
        return [s.candidate_out(c) for c in await controller.neighbours(image_id, k)]

    @api.get(
        "/candidates",
        response_model=s.CandidatePage,
        dependencies=auth,
        responses=errors,
        tags=["candidates"],
    )
    async def candidates(
        limit: Limit = 50,
        cursor: Cursor = None,
        verdict: Annotated[str, Query(pattern="^(anomaly|near_miss|all)$")] = "all",
        order: Annotated[str, Query(pattern="^(score|rank|newest)$")] = "score",
        unlabelled: bool = False,
        source: str | None = None,
        catalog_verdict: CatalogVerdict | None = None,
    ) -> s.CandidatePage:
        """Anomalies and near-misses, filtered like `astrolens candidates`."""
        offset = offset_of(cursor)
        verdicts = (Verdict.ANOMALY, Verdict.NEAR_MISS) if verdict == "all" else (Verdict(verdict),)
        query = CandidateQuery(
            verdicts=verdicts,
            source_id=source,
            labelled=False if unlabelled else None,
            catalog_verdict=catalog_verdict,
            order_by=order,
            limit=limit,
            offset=offset,
        )
        found = await controller.candidates(query)
        total = await controller.count_candidates(query)
        nxt = str(offset + len(found)) if offset + len(found) < total and found else None
        return s.CandidatePage(
            items=[s.candidate_out(c) for c in found], total=total, next_cursor=nxt
        )

    @api.post(
        "/analyze/{image_id}",
        response_model=s.AnalysisOut,
        dependencies=auth,
        responses=errors,
        tags=["candidates"],
    )
    async def analyze(image_id: int) -> s.AnalysisOut:
        """The full analysis of a candidate: scores, p-value, thresholds, and what every
        promoted head of the current model says about it."""
        candidate = await candidate_or_404(image_id)
        predictions = await controller.predictions(image_id)
        return s.AnalysisOut(
            candidate=s.candidate_out(candidate),
            predictions=[s.prediction_out(p) for p in predictions],
        )

    @api.get("/crossref/summary", dependencies=auth, responses=errors, tags=["catalogs"])
    async def crossref_summary() -> dict[str, Any]:
        """Counts of candidates by catalog verdict, by status and by service."""
        return await controller.crossref_summary()

    @api.get(
        "/crossref/{image_id}",
        response_model=s.CrossRefOut,
        dependencies=auth,
        responses=errors,
        tags=["catalogs"],
    )
    async def crossref(image_id: int) -> s.CrossRefOut:
        """What the catalogs said: match, no match, error (with why) or pending, per service."""
        c = await candidate_or_404(image_id)
        return s.CrossRefOut(
            image_id=c.id,
            catalog_verdict=c.catalog_verdict.value,
            crossmatches=[s.crossmatch_out(m) for m in c.crossmatches],
        )

    @api.post(
        "/crossref/{image_id}",
        response_model=s.CrossRefOut,
        dependencies=auth,
        responses=errors,
        tags=["catalogs"],
    )
    async def recheck(image_id: int) -> s.CrossRefOut:
        """Ask the catalogs again now."""
        await candidate_or_404(image_id)
        await controller.retry_crossmatch(image_id)
        return await crossref(image_id)

    @api.post(
        "/labels",
        response_model=s.LabelOut,
        status_code=201,
        dependencies=auth,
        responses=errors,
        tags=["candidates"],
    )
    async def add_label(body: s.LabelIn) -> s.LabelOut:
        """Mark a candidate true positive, false positive or unsure; re-ranks the queue as a
        label in the window does."""
        await candidate_or_404(body.image_id)
        await controller.label(body.image_id, _LABELS[body.value], body.note, origin="api")
        return s.LabelOut(image_id=body.image_id, value=_LABELS[body.value].value, note=body.note)

    @api.post(
        "/scan",
        response_model=s.ScanOut,
        status_code=202,
        dependencies=auth,
        responses={**errors, 422: {"model": s.ErrorOut}},
        tags=["agent"],
    )
    async def scan(body: s.ScanIn) -> s.ScanOut:
        """Scan folders once; results arrive as events (`GET /events`)."""
        # stat() may hang on a network share: not on the loop
        checked = await asyncio.get_running_loop().run_in_executor(None, _folders, body.folders)
        for folder in checked:
            controller.scan_folder(folder)
        return s.ScanOut(scanning=[str(f) for f in checked])

    @api.post(
        "/pause", response_model=s.StateOut, dependencies=auth, responses=errors, tags=["agent"]
    )
    async def pause() -> s.StateOut:
        controller.pause()
        return s.StateOut(state=controller.state.value)

    @api.post(
        "/resume", response_model=s.StateOut, dependencies=auth, responses=errors, tags=["agent"]
    )
    async def resume() -> s.StateOut:
        controller.resume()
        return s.StateOut(state=controller.state.value)

    @api.get(
        "/events",
        dependencies=auth,
        responses=errors,
        tags=["agent"],
        response_class=StreamingResponse,
    )
    async def events() -> StreamingResponse:
        """Server-sent events: image_scored, candidate_found, catalog_checked, label_added,
        annotation_added, state, cycle_finished."""
        return StreamingResponse(
            hub.stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @api.post(
        "/annotate/{image_id}",
        response_model=s.AnnotationOut,
        dependencies=auth,
        responses={**errors, 429: {"model": s.ErrorOut}, 503: {"model": s.ErrorOut}},
        tags=["candidates"],
    )
    async def annotate(image_id: int, body: s.AnnotateIn | None = None) -> s.AnnotationOut:
        """Ask the configured LLM (Ollama or OpenAI-compatible) to describe the candidate.
        Failures say why: provider not running, model not pulled, no key, 401, 429, timeout,
        a model without vision."""
        await candidate_or_404(image_id)
        body = body or s.AnnotateIn(provider=None, model=None)
        found = await controller.annotate(image_id, body.provider, body.model)
        return s.annotation_out(found)

    @api.get(
        "/runs",
        response_model=list[s.RunOut],
        dependencies=auth,
        responses=errors,
        tags=["learning"],
    )
    async def runs() -> list[s.RunOut]:
        """Training runs, newest first: what each trained and whether it was kept."""
        return [s.run_out(r) for r in await controller.training_runs()]

    return api
