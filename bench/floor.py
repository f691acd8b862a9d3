"""The framework floor: a FastAPI POST /predict that reads the body and answers a constant, under the
same uvicorn settings as the service. No server doing real work can beat it."""

from __future__ import annotations

from fastapi import FastAPI, Request

from service.api.responses import FastJSONResponse

app = FastAPI()
ANSWER = {"digit": 7, "confidence": 1.0, "probabilities": [0.0] * 7 + [1.0, 0.0, 0.0]}


@app.get("/health")
async def health() -> FastJSONResponse:
    return FastJSONResponse({"status": "ok"})


@app.post("/predict")
async def predict(request: Request) -> FastJSONResponse:
    await request.body()
    return FastJSONResponse(ANSWER)
