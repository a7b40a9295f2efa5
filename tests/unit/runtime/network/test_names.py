from __future__ import annotations

import json

import dnslib

from rootless.runtime.network import names


def table(tmp_path) -> names.NameTable:
    t = names.NameTable(str(tmp_path / "names.json"))
    t.set_network("a" * 64, "10.89.0.1", internal=False)
    t.add("a" * 64, "10.89.0.2", ["web", "Web-Alias", "0123456789ab", "web"])
    t.add("a" * 64, "10.89.0.3", ["client"])
    return t


def query(name: str, qtype: str = "A") -> dnslib.DNSRecord:
    return dnslib.DNSRecord.question(name, qtype)


def test_lookup_is_case_insensitive_and_ignores_the_root_dot(tmp_path):
    entry = table(tmp_path).networks["a" * 64]
    assert entry.lookup("WEB.") == ["10.89.0.2"]
    assert entry.lookup("web-alias") == ["10.89.0.2"]
    assert entry.lookup("0123456789ab") == ["10.89.0.2"]
    assert entry.lookup("nobody") == []


def test_duplicate_names_are_kept_once_and_an_alias_shared_by_two_answers_both(tmp_path):
    t = table(tmp_path)
    assert t.networks["a" * 64].names["10.89.0.2"] == ["web", "Web-Alias", "0123456789ab"]
    t.add("a" * 64, "10.89.0.4", ["web"])
    assert t.networks["a" * 64].lookup("web") == ["10.89.0.2", "10.89.0.4"]


def test_save_and_load_round_trip(tmp_path):
    t = table(tmp_path)
    t.set_network("b" * 64, "10.89.1.1", internal=True)
    t.save()
    loaded = names.NameTable.load(t.path)
    assert loaded.networks == t.networks
    assert json.loads((tmp_path / "names.json").read_text())["format"] == names.FORMAT
    assert (tmp_path / "names.json").stat().st_mode & 0o777 == 0o600


def test_load_without_a_file_is_empty(tmp_path):
    assert names.NameTable.load(str(tmp_path / "missing.json")).networks == {}


def test_set_network_again_keeps_names_and_remove_drops_one(tmp_path):
    t = table(tmp_path)
    t.set_network("a" * 64, "10.89.0.1", internal=False)
    assert t.networks["a" * 64].lookup("client") == ["10.89.0.3"]
    t.remove("a" * 64, "10.89.0.3")
    t.remove("unknown", "10.89.0.3")
    assert t.networks["a" * 64].lookup("client") == []
    t.drop_network("a" * 64)
    assert t.networks == {}


def test_a_question_for_a_known_name_is_answered_locally(tmp_path):
    entry = table(tmp_path).networks["a" * 64]
    request = query("web")
    assert names.is_local_question(entry, request)
    reply = dnslib.DNSRecord.parse(names.answer_local(entry, request))
    assert reply.header.id == request.header.id and reply.header.rcode == dnslib.RCODE.NOERROR
    assert [(str(rr.rname), str(rr.rdata), rr.ttl) for rr in reply.rr] == [("web.", "10.89.0.2", names.TTL)]


def test_aaaa_for_a_known_name_is_an_empty_noerror(tmp_path):
    entry = table(tmp_path).networks["a" * 64]
    reply = dnslib.DNSRecord.parse(names.answer_local(entry, query("web", "AAAA")))
    assert reply.header.rcode == dnslib.RCODE.NOERROR and reply.rr == []


def test_unknown_names_are_not_local(tmp_path):
    entry = table(tmp_path).networks["a" * 64]
    assert not names.is_local_question(entry, query("example.org"))


def test_answer_error_keeps_the_question(tmp_path):
    request = query("example.org")
    reply = dnslib.DNSRecord.parse(names.answer_error(request, dnslib.RCODE.REFUSED))
    assert reply.header.rcode == dnslib.RCODE.REFUSED and str(reply.q.qname) == "example.org."


def test_parse_query_drops_garbage_and_replies():
    assert names.parse_query(b"\x00\x01garbage") is None
    assert names.parse_query(query("web").reply().pack()) is None
    assert str(names.parse_query(query("web").pack()).q.qname) == "web."


def test_read_resolvers_keeps_ipv4_nameservers_loopback_included():
    text = "# comment\nnameserver 127.0.0.53\nnameserver ::1\nsearch lan\nnameserver 192.0.2.1\n"
    assert names.read_resolvers(text) == ["127.0.0.53:53", "192.0.2.1:53"]


def test_add_and_remove_say_whether_the_table_changed_so_the_responder_is_told_only_then(tmp_path):
    t = table(tmp_path)
    network = "a" * 64
    assert t.add(network, "10.89.0.2", ["web", "Web-Alias", "0123456789ab"]) is False  # the same names
    assert t.add(network, "10.89.0.2", ["web"]) is True
    # a default-bridge container has no names: no entry, nothing changed (no save, no SIGHUP per start)
    assert t.add(network, "10.89.0.9", []) is False
    assert "10.89.0.9" not in t.networks[network].names
    assert t.remove(network, "10.89.0.9") is False
    assert t.remove(network, "10.89.0.2") is True
    assert t.remove("b" * 64, "10.89.0.2") is False  # an unknown network
    # an address given no names loses the names it had
    assert t.add(network, "10.89.0.3", []) is True and "10.89.0.3" not in t.networks[network].names
