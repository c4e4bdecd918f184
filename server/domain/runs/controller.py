"""``/api/models/{id}/runs``, ``/api/runs/{id}[/...]`` and ``/api/compute``: HTTP only; the
rules live in ``service``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from server.domain.models.service import ModelNotFound
from server.domain.runs.schemas import (
    ComputeTarget,
    RunCreate,
    RunLogRead,
    RunMetricRead,
    RunRead,
    RunRefusal,
    SteerRequest,
)
from server.domain.runs.service import (
    RunNotFound,
    RunRefused,
    Runs,
    WorkerUnreachable,
    WrongState,
)
from simcore.spec import ModelSpec


def _runs(state: State) -> Runs:
    return state.runs


class ModelRunsController(Controller):
    path = "/api/models/{model_id:uuid}/runs"
    tags = ("runs",)

    @post(
        "/",
        summary="Start a run of a model",
        status_code=201,
        responses={
            422: ResponseSpec(
                RunRefusal,
                description="Nothing was queued: `detail` says why, `errors` lists what is "
                "wrong in the model's document (each with its path)",
                generate_examples=False,
            )
        },
    )
    async def create(
        self, model_id: UUID, data: RunCreate, state: State
    ) -> Response[RunRead | RunRefusal]:
        """Freezes the model's current spec and queues a run of it (``simulate`` or ``train``)
        on the executor; ``GET /api/runs/{id}`` follows it."""
        try:
            run = await _runs(state).create(model_id, data)
        except ModelNotFound as error:
            raise NotFoundException(str(error)) from None
        except RunRefused as error:
            return Response(RunRefusal(str(error), error.errors), status_code=422)
        return Response(run, status_code=201)

    @get("/", summary="List a model's runs, newest first")
    async def list(
        self,
        model_id: UUID,
        state: State,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
        offset: Annotated[int, Parameter(ge=0)] = 0,
    ) -> list[RunRead]:
        try:
            return await _runs(state).list_for_model(model_id, limit, offset)
        except ModelNotFound as error:
            raise NotFoundException(str(error)) from None


class RunController(Controller):
    path = "/api/runs/{run_id:uuid}"
    tags = ("runs",)

    @get("/", summary="Read a run")
    async def read(self, run_id: UUID, state: State) -> RunRead:
        try:
            return await _runs(state).get(run_id)
        except RunNotFound as error:
            raise NotFoundException(str(error)) from None

    @get("/spec", summary="The spec a run runs")
    async def spec(self, run_id: UUID, state: State) -> ModelSpec:
        try:
            return await _runs(state).spec(run_id)
        except RunNotFound as error:
            raise NotFoundException(str(error)) from None

    @get("/logs", summary="A run's log lines, oldest first")
    async def logs(
        self,
        run_id: UUID,
        state: State,
        after: Annotated[int, Parameter(ge=0, description="only lines after this id")] = 0,
        limit: Annotated[int, Parameter(ge=1, le=10_000)] = 1000,
    ) -> list[RunLogRead]:
        try:
            return await _runs(state).logs(run_id, after, limit)
        except RunNotFound as error:
            raise NotFoundException(str(error)) from None

    @get("/metrics", summary="A run's metrics, by step")
    async def metrics(
        self,
        run_id: UUID,
        state: State,
        name: str | None = None,
        after_step: Annotated[int, Parameter(ge=-1)] = -1,
        limit: Annotated[int, Parameter(ge=1, le=100_000)] = 10_000,
    ) -> list[RunMetricRead]:
        try:
            return await _runs(state).metrics(run_id, name, after_step, limit)
        except RunNotFound as error:
            raise NotFoundException(str(error)) from None

    @post("/pause", summary="Pause a running run (before its next chunk)", status_code=202)
    async def pause(self, run_id: UUID, state: State) -> RunRead:
        return await _commanded(_runs(state).pause(run_id))

    @post("/resume", summary="Resume a paused run", status_code=202)
    async def resume(self, run_id: UUID, state: State) -> RunRead:
        return await _commanded(_runs(state).resume(run_id))

    @post("/stop", summary="Stop a run (after the chunk in progress)", status_code=202)
    async def stop(self, run_id: UUID, state: State) -> RunRead:
        return await _commanded(_runs(state).stop(run_id))

    @post("/steer", summary="Change parameters of a running simulation", status_code=202)
    async def steer(self, run_id: UUID, data: SteerRequest, state: State) -> RunRead:
        """Applied from the run's next chunk; the frame starting there lists them with that
        step. Editing the same parameters in the model's document does this too."""
        return await _commanded(_runs(state).steer(run_id, data.changes))


@get("/api/compute", summary="Where runs can execute", tags=["runs"])
async def compute(state: State) -> list[ComputeTarget]:
    """The executor's compute targets (this machine's CPU and GPUs, or each node of the Ray
    cluster with its resources); a run picks one with ``target`` and a ``device`` it has."""
    return await _runs(state).targets()


async def _commanded(command: object) -> RunRead:
    try:
        return await command  # type: ignore[misc]
    except RunNotFound as error:
        raise NotFoundException(str(error)) from None
    except WrongState as error:
        raise HTTPException(str(error), status_code=409) from None
    except WorkerUnreachable as error:
        raise HTTPException(str(error), status_code=503) from None
