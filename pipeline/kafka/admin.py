"""Topic administration with aiokafka's admin client."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from pipeline.errors import PipelineError
from pipeline.kafka import client
from pipeline.kafka.client import KafkaClient

log = logging.getLogger(__name__)

# Big enough for any record the events topic accepts, so an oversized event can be dead-lettered as is.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


@contextlib.asynccontextmanager
async def admin_client(kafka: KafkaClient | str, timeout_s: float) -> AsyncIterator[AIOKafkaAdminClient]:
    """A connected admin client with the shared security settings, closed on the way out."""
    admin = AIOKafkaAdminClient(**client.options(kafka), request_timeout_ms=int(timeout_s * 1000))
    await client.connect(admin, kafka, timeout_s)
    try:
        yield admin
    finally:
        await admin.close()


async def ensure_topics(
    kafka: KafkaClient | str,
    wanted: Mapping[str, int],
    *,
    replication_factor: int = 1,
    configs: Mapping[str, Mapping[str, str]] | None = None,
    timeout_s: float = 30.0,
) -> dict[str, int]:
    """Create the topics that are missing; return every topic's actual partition count.

    An existing topic keeps its partition count (changing it would move keys between partitions).
    """
    async with admin_client(kafka, timeout_s) as admin:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, num_partitions=parts, replication_factor=replication_factor,
                     topic_configs=dict((configs or {}).get(name, {})))
            for name, parts in wanted.items() if name not in existing
        ]
        if missing:
            log.info("creating topics: %s", ", ".join(t.name for t in missing))
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
                await admin.create_topics(missing)
        return await partition_counts(admin, list(wanted))


async def partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _ in range(50):  # a just-created topic takes a moment to show its partitions
        described = await admin.describe_topics(names)
        counts = {d["topic"]: len(d["partitions"]) for d in described if d.get("error_code", 0) == 0}
        if all(counts.get(n, 0) > 0 for n in names):
            return counts
        await asyncio.sleep(0.2)
    raise PipelineError(f"topics did not become ready: {sorted(set(names) - set(counts))}")


TOPIC_AUTHORIZATION_FAILED = 29  # Kafka's error code


class NotAuthorized(PipelineError):
    """The broker's ACLs do not let this client do it."""


async def topic_config(kafka: KafkaClient | str, topic: str, *, timeout_s: float = 30.0) -> dict[str, str] | None:
    """The topic's effective configuration (its own settings over the broker's defaults), or None when the
    topic does not exist. Raises NotAuthorized when ACLs do not allow DescribeConfigs on it."""
    async with admin_client(kafka, timeout_s) as admin:
        if topic not in set(await admin.list_topics()):
            return None
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        for response in responses:
            for error_code, error_message, _type, name, entries in response.resources:
                if name != topic:
                    continue
                if error_code == TOPIC_AUTHORIZATION_FAILED:
                    raise NotAuthorized(f"not authorized to describe the configuration of topic {topic} "
                                        f"(the DescribeConfigs ACL)")
                if error_code:
                    raise PipelineError(f"cannot read the configuration of topic {topic}: {error_message} "
                                        f"(error {error_code})")
                return {entry[0]: entry[1] for entry in entries if entry[1] is not None}
        raise PipelineError(f"the broker did not describe the configuration of topic {topic}")


async def topic_partitions(kafka: KafkaClient | str, topic: str, *, timeout_s: float = 30.0) -> list[int]:
    """The topic's partition ids; [] when the topic does not exist."""
    async with admin_client(kafka, timeout_s) as admin:
        for d in await admin.describe_topics([topic]):
            if d.get("topic") == topic and d.get("error_code", 0) == 0:
                return sorted(p["partition"] for p in d["partitions"])
        return []
