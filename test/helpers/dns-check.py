# The Python half of test/sandbox/dns-contract.ts: what a receiving mail server asks
# DNS, answered by the test's throwaway NSD on 127.0.0.1:<port>. Debian's
# libraries do the protocol work (dnspython asks, pyspf evaluates SPF, dkimpy
# verifies signatures); the test itself asserts on the JSON printed here.
# Run it with /usr/bin/python3 (python3-dnspython, python3-spf, python3-dkim):
#
#   dns-check.py served PORT   stdin {zone: zone text}  -> every record of the
#                              zone text next to what NSD serves for it
#   dns-check.py query PORT    stdin [[name, type], ...] -> what NSD serves
#   dns-check.py spf PORT IP MAIL_FROM HELO -> pyspf's result for the envelope
#   dns-check.py message PORT  stdin a message -> its From domain and the
#                              result of each DKIM signature
import json
import sys
from email.parser import BytesHeaderParser
from email.utils import getaddresses

import dkim
import dns.rdatatype
import dns.resolver
import dns.zone
import spf

# pyspf and dkimpy look names up through dnspython's default resolver (at
# lookup time), so pointing it at NSD sends every lookup there and nowhere else.
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = ["127.0.0.1"]
resolver.port = int(sys.argv[2])
resolver.lifetime = 5.0
dns.resolver.default_resolver = resolver


def lookup(name, rdtype):
    """What NSD serves for (name, type): rcode, RDATA texts, TXT strings."""
    try:
        answer = resolver.resolve(name, rdtype, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return {"rcode": "NXDOMAIN", "served": [], "strings": []}
    except dns.resolver.NoNameservers:
        # NSD answered SERVFAIL or REFUSED: it does not serve the zone.
        return {"rcode": "SERVFAIL", "served": [], "strings": []}
    rrset = answer.rrset or []
    out = {"rcode": "NOERROR", "served": sorted(rr.to_text() for rr in rrset), "strings": []}
    if answer.rdtype == dns.rdatatype.TXT:
        # Each string on its own, to check the 255-byte limit and the reassembly.
        out["strings"] = [[s.decode("utf-8", "replace") for s in rr.strings] for rr in rrset]
    return out


def served(zones):
    """Every record set of each zone text (parsed here, not by NSD) and NSD's answer for it."""
    out = []
    for origin, text in zones.items():
        zone = dns.zone.from_text(text, origin=origin, relativize=False, check_origin=True)
        for name, rdataset in zone.iterate_rdatasets():
            rdtype = dns.rdatatype.to_text(rdataset.rdtype)
            entry = {"zone": origin, "name": name.to_text(omit_final_dot=True), "type": rdtype}
            entry["expected"] = sorted(rr.to_text() for rr in rdataset)
            entry.update(lookup(entry["name"], rdtype))
            out.append(entry)
    return out


def from_domain(message):
    """The domain of the From header: what DMARC aligns against."""
    headers = BytesHeaderParser().parsebytes(message)
    addresses = getaddresses(headers.get_all("From", []))
    return addresses[0][1].rpartition("@")[2].lower() if addresses else ""


def check_spf(ip, mail_from, helo):
    """pyspf's verdict on the envelope: the sender's IP, MAIL FROM and HELO."""
    result, explanation = spf.check2(i=ip, s=mail_from, h=helo)
    domain = (mail_from.rpartition("@")[2] or helo).lower()
    return {"result": result, "explanation": explanation, "domain": domain}


def check_message(message):
    """The From domain and dkimpy's verdict on every DKIM signature of the message."""
    sigs = []
    d = dkim.DKIM(message)
    count = sum(1 for name, _ in d.headers if name.lower() == b"dkim-signature")
    for idx in range(count):
        d.domain, d.selector = None, None
        try:
            ok = d.verify(idx=idx)
        except dkim.DKIMException:
            ok = False
        sigs.append(
            {
                "result": "pass" if ok else "fail",
                "d": (d.domain or b"").decode().lower(),
                "s": (d.selector or b"").decode(),
            }
        )
    return {"from": from_domain(message), "dkim": sigs}


mode = sys.argv[1]
if mode == "served":
    print(json.dumps(served(json.load(sys.stdin))))
elif mode == "query":
    print(json.dumps([{"name": n, "type": t, **lookup(n, t)} for n, t in json.load(sys.stdin)]))
elif mode == "spf":
    print(json.dumps(check_spf(sys.argv[3], sys.argv[4], sys.argv[5])))
elif mode == "message":
    print(json.dumps(check_message(sys.stdin.buffer.read())))
else:
    sys.exit(f"unknown mode {mode}")
