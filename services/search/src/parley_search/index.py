"""The messages index: its analysis, its mapping, and the alias in front of its versions.

`content` is indexed four ways so people find what they typed, not just whole words:
- `content`: English (stemming, possessives) with accents folded: `running` finds `run`,
  `cafe` finds `café`;
- `content.prefix`: edge n-grams, so a word's beginning finds it: `deploy` finds `deployment`;
- `content.parts`: whitespace-delimited tokens kept whole *and* split at punctuation and case
  changes, so `example.com/docs`, `snake_case_name` and `HttpClient` are found by their parts
  and as a whole;
- `content.exact`: no stemming, for quoted phrases, which rank first, and for typo-tolerant
  (fuzzy) matching of plain words.

Filters of the `q` operators: `mentions` (user ids), `has_link` and `has_reaction` (computed
when the message is indexed), `parent_id` (threads).

Mapping revisions: `SCHEMA` is recorded in the index's `_meta`. A deployment whose live index
has an older revision gets the new fields added in place by a migration
(`parley_search.migrations`; adding fields is allowed on a live index, and the strict mapping
would otherwise refuse the new documents); documents written before that lack the new fields
until `python -m parley_search reindex` rebuilds the index into the next version behind the
alias (see docs/api.md, "Search").
"""

from typing import Any, Final

from parley_kit.logs import get_logger
from parley_search.engine import SearchEngine
from parley_search.settings import SearchSettings

log = get_logger(__name__)

ALIAS = "parley-messages"
# 1: the first mapping; 2: `mentions`, `has_link`, `has_reaction` for the `q` operators.
SCHEMA: Final = 2


def alias_name(prefix: str) -> str:
    return f"{prefix}{ALIAS}"


def version_name(prefix: str, version: int) -> str:
    return f"{prefix}{ALIAS}-v{version}"


ADDED_IN_SCHEMA_2: Final[dict[str, Any]] = {
    "mentions": {"type": "keyword"},
    "has_link": {"type": "boolean"},
    "has_reaction": {"type": "boolean"},
}


def index_body(settings: SearchSettings) -> dict[str, Any]:
    text_filters = ["lowercase", "asciifolding"]
    return {
        "settings": {
            "number_of_shards": settings.shards,
            "number_of_replicas": settings.replicas,
            # Explicit: an idle shard otherwise skips refreshes and the first search waits.
            "refresh_interval": settings.refresh_interval,
            "analysis": {
                "filter": {
                    "english_stemmer": {"type": "stemmer", "language": "english"},
                    "english_possessive": {"type": "stemmer", "language": "possessive_english"},
                    "prefix_edge": {"type": "edge_ngram", "min_gram": 2, "max_gram": 20},
                    "parts_split": {
                        "type": "word_delimiter_graph",
                        "preserve_original": True,
                        "split_on_case_change": True,
                        "split_on_numerics": True,
                        "generate_word_parts": True,
                        "generate_number_parts": True,
                        "stem_english_possessive": False,
                    },
                },
                "tokenizer": {
                    "loose_words": {"type": "pattern", "pattern": "[\\s,;!?()\\[\\]{}<>\"'`]+"}
                },
                "analyzer": {
                    "text_en": {
                        "tokenizer": "standard",
                        "filter": [*text_filters, "english_possessive", "english_stemmer"],
                    },
                    "text_exact": {"tokenizer": "standard", "filter": text_filters},
                    "text_prefix": {
                        "tokenizer": "standard",
                        "filter": [*text_filters, "prefix_edge"],
                    },
                    "text_parts": {
                        "tokenizer": "loose_words",
                        "filter": ["parts_split", *text_filters],
                    },
                },
            },
        },
        "mappings": {
            "_meta": {"schema": SCHEMA},
            "dynamic": "strict",
            "properties": {
                "id": {"type": "keyword"},
                "tenant_id": {"type": "keyword"},
                "conversation_id": {"type": "keyword"},
                "sender_id": {"type": "keyword"},
                "parent_id": {"type": "keyword"},
                **ADDED_IN_SCHEMA_2,
                "seq": {"type": "long"},
                "version": {"type": "long"},
                "deleted": {"type": "boolean"},
                "created_at": {"type": "date"},
                "edited_at": {"type": "date"},
                "content": {
                    "type": "text",
                    "analyzer": "text_en",
                    "fields": {
                        "prefix": {
                            "type": "text",
                            "analyzer": "text_prefix",
                            "search_analyzer": "text_exact",
                        },
                        "parts": {"type": "text", "analyzer": "text_parts"},
                        "exact": {"type": "text", "analyzer": "text_exact"},
                    },
                },
                # The whole resource, returned as is; not searchable by itself.
                "message": {"type": "object", "enabled": False},
            },
        },
    }


async def create_first_version(engine: SearchEngine, settings: SearchSettings) -> str:
    """Create version 1 behind the alias if no version exists; returns the alias."""
    alias = alias_name(settings.index_prefix)
    if await engine.aliases(alias):
        return alias
    first = version_name(settings.index_prefix, 1)
    try:
        await engine.create_index(
            first, index_body(settings) | {"aliases": {alias: {"is_write_index": True}}}
        )
    except Exception:
        if not await engine.aliases(alias):  # another replica may have created it meanwhile
            raise
    return alias


async def current_version(engine: SearchEngine, settings: SearchSettings) -> tuple[str, int]:
    """The index the alias points at, and its version number."""
    found = await engine.aliases(alias_name(settings.index_prefix))
    names = sorted(found)
    if not names:
        raise LookupError("the messages alias does not exist")
    name = names[-1]
    return name, int(name.rsplit("-v", 1)[1])


async def upgrade_mapping(engine: SearchEngine, alias: str) -> bool:
    """Add the fields of newer mapping revisions to the indexes behind the alias (additive, so
    safe on a live index); True when an index was upgraded and needs a reindex to backfill."""
    upgraded = False
    for name, found in (await engine.get_mapping(alias)).items():
        schema = int(found.get("mappings", {}).get("_meta", {}).get("schema", 1))
        if schema >= SCHEMA:
            continue
        await engine.put_mapping(
            name, {"_meta": {"schema": SCHEMA}, "properties": ADDED_IN_SCHEMA_2}
        )
        upgraded = True
        log.warning(
            "search index mapping upgraded in place; run `python -m parley_search reindex` "
            "so messages indexed before have the new operator fields",
            index=name,
            schema_was=schema,
            schema=SCHEMA,
        )
    return upgraded


async def apply_live_settings(engine: SearchEngine, settings: SearchSettings) -> None:
    """The index settings that may change on a live index (refresh interval, replicas) set to
    what the service is configured with now: an index created under older settings (or an
    older default) would otherwise keep them for ever, e.g. a 1 s refresh that made every
    message searchable a second late."""
    await engine.put_settings(
        alias_name(settings.index_prefix),
        {
            "refresh_interval": settings.refresh_interval,
            "number_of_replicas": settings.replicas,
        },
    )
