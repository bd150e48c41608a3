"""A FastAPI app serving SCIM from an async SQL storage, for the async how-to guide."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tomorro_scim import ScimService
from tomorro_scim.adapters.starlette import scim_app
from tomorro_scim.storage.sql.asyncio import AsyncSqlStorage

storage = AsyncSqlStorage("sqlite+aiosqlite:///./app-scim.db")
# storage = AsyncSqlStorage("postgresql+psycopg://app@db.internal/app", pool_size=10)
service = ScimService(storage)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await storage.open()  # check or create the tables before the first request
    yield
    await storage.close()  # close the pooled connections


app = FastAPI(lifespan=lifespan)
app.mount("/scim/v2", scim_app(service))
