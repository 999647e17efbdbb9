"""One interface over Elasticsearch 8 and OpenSearch 2, which speak the same REST API for
everything Parley uses but need different Python clients (the Elasticsearch 8 client refuses
to talk to anything but Elasticsearch)."""

from typing import Any, Final, Protocol

from parley_kit.problems import ServiceUnavailable
from parley_search.settings import SearchSettings

# Answers of an engine that is starting, overloaded or shedding load: retrying soon may work.
RETRYABLE_STATUSES: Final = frozenset({429, 502, 503, 504})


def unavailable(retry_after: int) -> ServiceUnavailable:
    """A search the engine could not serve now (down, unreachable, starting, overloaded): a
    503 with `Retry-After` for the caller, never a 500."""
    return ServiceUnavailable(
        "the search engine is unavailable; retry shortly", retry_after=retry_after
    )


class SearchEngine(Protocol):
    async def info(self) -> dict[str, Any]: ...
    async def create_index(self, name: str, body: dict[str, Any]) -> None: ...
    async def index_exists(self, name: str) -> bool: ...
    async def delete_index(self, name: str) -> None: ...
    async def aliases(self, name: str) -> dict[str, Any]: ...
    async def update_aliases(self, actions: list[dict[str, Any]]) -> None: ...
    async def get_mapping(self, index: str) -> dict[str, Any]: ...
    async def put_mapping(self, index: str, body: dict[str, Any]) -> None: ...
    async def put_settings(self, index: str, settings: dict[str, Any]) -> None: ...
    async def bulk(self, operations: list[dict[str, Any]]) -> dict[str, Any]: ...
    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def refresh(self, index: str) -> None: ...
    # Single documents, visible at once (the migrations ledger, `parley_search.migrations`).
    async def create_document(self, index: str, id: str, body: dict[str, Any]) -> bool: ...
    async def get_document(self, index: str, id: str) -> dict[str, Any] | None: ...
    async def delete_document(self, index: str, id: str) -> None: ...
    async def put_document(self, index: str, id: str, body: dict[str, Any]) -> None: ...
    async def close(self) -> None: ...


class OpenSearchEngine:
    def __init__(self, url: str, retry_after: int = 1, **options: Any) -> None:
        from opensearchpy import AsyncOpenSearch

        self._client = AsyncOpenSearch(hosts=[url], timeout=10, max_retries=0, **options)
        self._retry_after = retry_after

    async def info(self) -> dict[str, Any]:
        return dict(await self._client.info())

    async def create_index(self, name: str, body: dict[str, Any]) -> None:
        await self._client.indices.create(index=name, body=body)

    async def index_exists(self, name: str) -> bool:
        return bool(await self._client.indices.exists(index=name))

    async def delete_index(self, name: str) -> None:
        await self._client.indices.delete(index=name)

    async def aliases(self, name: str) -> dict[str, Any]:
        from opensearchpy.exceptions import NotFoundError

        try:
            return dict(await self._client.indices.get_alias(name=name))
        except NotFoundError:
            return {}

    async def update_aliases(self, actions: list[dict[str, Any]]) -> None:
        await self._client.indices.update_aliases(body={"actions": actions})

    async def get_mapping(self, index: str) -> dict[str, Any]:
        return dict(await self._client.indices.get_mapping(index=index))

    async def put_mapping(self, index: str, body: dict[str, Any]) -> None:
        await self._client.indices.put_mapping(index=index, body=body)

    async def put_settings(self, index: str, settings: dict[str, Any]) -> None:
        await self._client.indices.put_settings(index=index, body={"index": settings})

    async def bulk(self, operations: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(await self._client.bulk(body=operations))

    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        from opensearchpy.exceptions import ConnectionError, TransportError

        try:
            return dict(await self._client.search(index=index, body=body))
        except ConnectionError as exc:  # refused, reset or timed out (ConnectionTimeout)
            raise unavailable(self._retry_after) from exc
        except TransportError as exc:
            if exc.status_code in RETRYABLE_STATUSES:
                raise unavailable(self._retry_after) from exc
            raise

    async def refresh(self, index: str) -> None:
        await self._client.indices.refresh(index=index)

    async def create_document(self, index: str, id: str, body: dict[str, Any]) -> bool:
        """Index `body` under `id` unless a document has that id (False then); atomic."""
        from opensearchpy.exceptions import ConflictError

        try:
            await self._client.create(index=index, id=id, body=body, refresh="true")
        except ConflictError:
            return False
        return True

    async def get_document(self, index: str, id: str) -> dict[str, Any] | None:
        from opensearchpy.exceptions import NotFoundError

        try:
            found = await self._client.get(index=index, id=id)
        except NotFoundError:
            return None
        return dict(found["_source"])

    async def delete_document(self, index: str, id: str) -> None:
        from opensearchpy.exceptions import NotFoundError

        try:
            await self._client.delete(index=index, id=id, refresh="true")
        except NotFoundError:
            pass

    async def put_document(self, index: str, id: str, body: dict[str, Any]) -> None:
        await self._client.index(index=index, id=id, body=body, refresh="true")

    async def close(self) -> None:
        await self._client.close()


class ElasticsearchEngine:
    def __init__(self, url: str, retry_after: int = 1, **options: Any) -> None:
        from elasticsearch import AsyncElasticsearch

        self._client = AsyncElasticsearch(url, request_timeout=10, max_retries=0, **options)
        self._retry_after = retry_after

    async def info(self) -> dict[str, Any]:
        return dict((await self._client.info()).body)

    async def create_index(self, name: str, body: dict[str, Any]) -> None:
        await self._client.indices.create(index=name, **body)

    async def index_exists(self, name: str) -> bool:
        return bool(await self._client.indices.exists(index=name))

    async def delete_index(self, name: str) -> None:
        await self._client.indices.delete(index=name)

    async def aliases(self, name: str) -> dict[str, Any]:
        from elasticsearch import NotFoundError

        try:
            return dict((await self._client.indices.get_alias(name=name)).body)
        except NotFoundError:
            return {}

    async def update_aliases(self, actions: list[dict[str, Any]]) -> None:
        await self._client.indices.update_aliases(actions=actions)

    async def get_mapping(self, index: str) -> dict[str, Any]:
        return dict((await self._client.indices.get_mapping(index=index)).body)

    async def put_settings(self, index: str, settings: dict[str, Any]) -> None:
        await self._client.indices.put_settings(index=index, settings={"index": settings})

    async def put_mapping(self, index: str, body: dict[str, Any]) -> None:
        # The Elasticsearch client names `_meta` `meta`.
        await self._client.indices.put_mapping(
            index=index, meta=body.get("_meta"), properties=body.get("properties")
        )

    async def bulk(self, operations: list[dict[str, Any]]) -> dict[str, Any]:
        return dict((await self._client.bulk(operations=operations)).body)

    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        from elastic_transport import TransportError
        from elasticsearch import ApiError

        try:
            return dict((await self._client.search(index=index, **body)).body)
        except TransportError as exc:  # refused, reset or timed out: no answer at all
            raise unavailable(self._retry_after) from exc
        except ApiError as exc:
            if exc.meta.status in RETRYABLE_STATUSES:
                raise unavailable(self._retry_after) from exc
            raise

    async def refresh(self, index: str) -> None:
        await self._client.indices.refresh(index=index)

    async def create_document(self, index: str, id: str, body: dict[str, Any]) -> bool:
        """Index `body` under `id` unless a document has that id (False then); atomic."""
        from elasticsearch import ConflictError

        try:
            await self._client.create(index=index, id=id, document=body, refresh="true")
        except ConflictError:
            return False
        return True

    async def get_document(self, index: str, id: str) -> dict[str, Any] | None:
        from elasticsearch import NotFoundError

        try:
            found = await self._client.get(index=index, id=id)
        except NotFoundError:
            return None
        return dict(found.body["_source"])

    async def delete_document(self, index: str, id: str) -> None:
        from elasticsearch import NotFoundError

        try:
            await self._client.delete(index=index, id=id, refresh="true")
        except NotFoundError:
            pass

    async def put_document(self, index: str, id: str, body: dict[str, Any]) -> None:
        await self._client.index(index=index, id=id, document=body, refresh="true")

    async def close(self) -> None:
        await self._client.close()


def engine_options(settings: SearchSettings) -> dict[str, Any]:
    """Client options of the engine's TLS and credentials, in each client's own words.

    Certificates are verified unless `elasticsearch_verify_certs` is off (both clients verify
    https:// by default; it is said explicitly so no client default can turn it off). An API
    key wins over basic auth; OpenSearch has no API keys of its own, so it sends the header.
    """
    elasticsearch = settings.engine == "elasticsearch"
    options: dict[str, Any] = {"verify_certs": settings.elasticsearch_verify_certs}
    if settings.elasticsearch_ca_file:
        options["ca_certs"] = settings.elasticsearch_ca_file
    api_key = settings.elasticsearch_api_key.get_secret_value()
    password = settings.elasticsearch_password.get_secret_value()
    if api_key:
        if elasticsearch:
            options["api_key"] = api_key
        else:
            options["headers"] = {"Authorization": f"ApiKey {api_key}"}
    elif settings.elasticsearch_username:
        credentials = (settings.elasticsearch_username, password)
        options["basic_auth" if elasticsearch else "http_auth"] = credentials
    return options


def connect_engine(settings: SearchSettings) -> SearchEngine:
    options = engine_options(settings)
    if settings.engine == "elasticsearch":
        return ElasticsearchEngine(
            settings.elasticsearch_url, settings.retry_after_seconds, **options
        )
    return OpenSearchEngine(settings.elasticsearch_url, settings.retry_after_seconds, **options)
