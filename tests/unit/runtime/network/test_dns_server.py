from __future__ import annotations

import dnslib

from rootless.runtime.network import dns_server, names


class FakeSocket:
    """Records what the responder sends; stands in for UDP sockets (unit tests open none)."""

    def __init__(self, incoming=()):
        self.incoming = list(incoming)
        self.sent = []

    def recvfrom(self, size):
        return self.incoming.pop(0)

    def sendto(self, data, address):
        self.sent.append((data, address))


def responder(tmp_path, upstreams=(("127.0.0.53", 53),), internal=False):
    table = names.NameTable(str(tmp_path / "names.json"))
    table.set_network("a", "10.89.0.1", internal)
    table.add("a", "10.89.0.2", ["web"])
    r = dns_server.Responder(table.path, list(upstreams), FakeSocket())
    r.table = table
    return r


def test_parse_upstream():
    assert dns_server.parse_upstream("127.0.0.53:53") == ("127.0.0.53", 53)


def test_known_name_is_answered_by_the_listener(tmp_path):
    r = responder(tmp_path)
    listener = FakeSocket([(dnslib.DNSRecord.question("web").pack(), ("10.89.0.9", 4000))])
    r.on_query(listener, "a")
    reply, client = listener.sent[0]
    assert client == ("10.89.0.9", 4000) and str(dnslib.DNSRecord.parse(reply).rr[0].rdata) == "10.89.0.2"
    assert r.upstream.sent == []


def test_other_names_are_forwarded_with_a_new_id_and_the_reply_gets_the_old_one(tmp_path):
    r = responder(tmp_path)
    question = dnslib.DNSRecord.question("example.org")
    listener = FakeSocket([(question.pack(), ("10.89.0.9", 4000))])
    r.on_query(listener, "a")
    forwarded, upstream = r.upstream.sent[0]
    assert upstream == ("127.0.0.53", 53) and forwarded[2:] == question.pack()[2:]
    answer = dnslib.DNSRecord.parse(forwarded).reply()
    answer.add_answer(dnslib.RR("example.org", rdata=dnslib.A("192.0.2.7")))
    r.upstream.incoming.append((answer.pack(), ("127.0.0.53", 53)))
    r.on_upstream()
    reply, client = listener.sent[0]
    assert client == ("10.89.0.9", 4000)
    assert dnslib.DNSRecord.parse(reply).header.id == question.header.id
    assert r.pending == {}


def test_replies_from_strangers_are_ignored(tmp_path):
    r = responder(tmp_path)
    listener = FakeSocket([(dnslib.DNSRecord.question("example.org").pack(), ("10.89.0.9", 4000))])
    r.on_query(listener, "a")
    forwarded, _ = r.upstream.sent[0]
    r.upstream.incoming.append((dnslib.DNSRecord.parse(forwarded).reply().pack(), ("192.0.2.66", 53)))
    r.on_upstream()
    assert listener.sent == [] and len(r.pending) == 1


def test_internal_networks_refuse_to_forward(tmp_path):
    r = responder(tmp_path, internal=True)
    listener = FakeSocket([(dnslib.DNSRecord.question("example.org").pack(), ("10.89.0.9", 4000))])
    r.on_query(listener, "a")
    assert dnslib.DNSRecord.parse(listener.sent[0][0]).header.rcode == dnslib.RCODE.REFUSED
    assert r.upstream.sent == []


def test_expired_forwards_are_forgotten(tmp_path):
    r = responder(tmp_path)
    listener = FakeSocket([(dnslib.DNSRecord.question("example.org").pack(), ("10.89.0.9", 4000))])
    r.on_query(listener, "a")
    query_id = next(iter(r.pending))
    r.pending[query_id] = r.pending[query_id][:3] + (0.0,)
    r.expire()
    assert r.pending == {}
