"""One interface over Elasticsearch 8 and OpenSearch 2, which speak the same REST API for
everything Parley uses but need different Python clients (the Elasticsearch 8 client refuses
to talk to anything but Elasticsearch)."""

from typing import Any, Protocol

from parley_search.settings import SearchSettings


class SearchEngine(Protocol):
    async def info(self) -> dict[str, Any]: ...
    async def create_index(self, name: str, body: dict[str, Any]) -> None: ...
    async def index_exists(self, name: str) -> bool: ...
    async def delete_index(self, name: str) -> None: ...
    async def aliases(self, name: str) -> dict[str, Any]: ...
    async def update_aliases(self, actions: list[dict[str, Any]]) -> None: ...
    async def bulk(self, operations: list[dict[str, Any]]) -> dict[str, Any]: ...
    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def refresh(self, index: str) -> None: ...
    async def close(self) -> None: ...


class OpenSearchEngine:
    def __init__(self, url: str) -> None:
        from opensearchpy import AsyncOpenSearch

        self._client = AsyncOpenSearch(hosts=[url], timeout=10, max_retries=0)

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

    async def bulk(self, operations: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(await self._client.bulk(body=operations))

    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._client.search(index=index, body=body))

    async def refresh(self, index: str) -> None:
        await self._client.indices.refresh(index=index)

    async def close(self) -> None:
        await self._client.close()


class ElasticsearchEngine:
    def __init__(self, url: str) -> None:
        from elasticsearch import AsyncElasticsearch

        self._client = AsyncElasticsearch(url, request_timeout=10, max_retries=0)

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

    async def bulk(self, operations: list[dict[str, Any]]) -> dict[str, Any]:
        return dict((await self._client.bulk(operations=operations)).body)

    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict((await self._client.search(index=index, **body)).body)

    async def refresh(self, index: str) -> None:
        await self._client.indices.refresh(index=index)

    async def close(self) -> None:
        await self._client.close()


def connect_engine(settings: SearchSettings) -> SearchEngine:
    if settings.engine == "elasticsearch":
        return ElasticsearchEngine(settings.elasticsearch_url)
    return OpenSearchEngine(settings.elasticsearch_url)
