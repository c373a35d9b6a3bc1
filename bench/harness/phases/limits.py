"""Phase `limits`: what the servers are measured against, loaded like them: the same blob operations sent
straight to Azurite (a bearer token from the managed identity endpoint, then an account SAS) and the axum echo."""

from __future__ import annotations

import stack
from common import log
from phases.load import series, server_load
from stack import BLOBS, Azurite


def run(rep: dict, run) -> None:
    run.attempt("raw blob", lambda: raw_blob(run.cfg, run.logdir), rep["limits"], "blob")
    log("load: echo (limit)")
    run.attempt("echo", lambda: server_load("echo", run.cfg, run.logdir), rep["limits"], "echo")


def raw_blob(cfg: dict, logdir) -> dict:
    with Azurite.run(logdir) as az:
        az.seed()
        enforced = az.bearer_enforced()
        log("raw blob operations against Azurite (no MCP): bearer token, then SAS")
        bearer, sas = dict(token=stack.TOKENS.token(), scheme="https"), dict(sas=az.sas(), scheme="https")
        kc = cfg["key_concurrency"]
        return {"bearer_check": enforced, "put": series(az.port, "rawput", cfg, BLOBS, **bearer),
                "get": series(az.port, "rawget", cfg, BLOBS, **bearer),
                "put_sas": series(az.port, "rawput", cfg, BLOBS, conc=kc, **sas),
                "get_sas": series(az.port, "rawget", cfg, BLOBS, conc=kc, **sas)}
