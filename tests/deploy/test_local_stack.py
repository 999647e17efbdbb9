"""The local engine stack's own logic that needs no engine: Kafka cluster ids."""

from fault_stack import load_stack_module


def test_kafka_cluster_ids_never_start_with_a_dash() -> None:
    """The storage tool reads an id starting with `-` as an option and refuses to format
    (1 in 64 random ids did: a stack that now and then did not come up)."""
    stack = load_stack_module()
    ids = [stack.kafka_cluster_id() for _ in range(2000)]
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(i) == 22 for i in ids)
    assert len(set(ids)) == len(ids)
