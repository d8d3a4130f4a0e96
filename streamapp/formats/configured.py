"""Which wire format each topic is configured with (``formats.*`` by topic name)."""

from __future__ import annotations

from streamapp.settings.formats import FormatSettings
from streamapp.settings.topics import TopicSettings


def topic_formats(topics: TopicSettings, formats: FormatSettings) -> dict[str, str]:
    """Topic name → its configured format, for the topics that have a format setting.

    >>> topic_formats(TopicSettings(), FormatSettings(events="avro"))["streamapp.events"]
    'avro'
    """
    return {topics.events: formats.events, topics.labels: formats.labels,
            topics.predictions: formats.predictions,
            topics.joined_outcomes: formats.joined_outcomes}


def topic_format(topics: TopicSettings, formats: FormatSettings, topic: str) -> str:
    """The configured format of ``topic``: ``formats.events`` for the events topic,
    ``formats.labels`` for labels, ``formats.predictions`` for predictions,
    ``formats.joined_outcomes`` for joined outcomes, else ``json``.

    >>> topic_format(TopicSettings(), FormatSettings(labels="protobuf"), "streamapp.labels")
    'protobuf'
    >>> topic_format(TopicSettings(), FormatSettings(joined_outcomes="avro"),
    ...              "streamapp.joined-outcomes")
    'avro'
    >>> topic_format(TopicSettings(), FormatSettings(events="avro"), "other")
    'json'
    """
    return topic_formats(topics, formats).get(topic, "json")
