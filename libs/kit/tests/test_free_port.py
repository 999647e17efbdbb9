"""Test servers' ports come from outside the kernel's ephemeral range, so no outgoing
connection can take one between its choice and the server's bind."""

import socket

from parley_kit.testing.servers import RESERVED_PORTS, _ephemeral_start, free_port


def test_free_ports_are_below_the_ephemeral_range_and_bindable() -> None:
    ports = [free_port() for _ in range(50)]
    assert all(port < _ephemeral_start() for port in ports)
    assert not RESERVED_PORTS.intersection(ports)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", ports[0]))


def test_a_port_in_use_or_reserved_is_never_handed_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", free_port()))
        held.listen()
        taken = held.getsockname()[1]
        spare = free_port()
        assert free_port(candidates=[taken, 27017, spare]) == spare
