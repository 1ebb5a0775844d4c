#!/usr/bin/python3
"""py_auth_bench.py - the Python references for bench/auth, driven like
postino_auth_bench.c: pyspf (Debian python3-spf) and dkimpy (python3-dkim),
single thread, one check after the other until SECONDS have passed.

  py_auth_bench.py spf SERVER SECONDS IP SENDER HELO EXPECT [nocache]
      pyspf's own DNS path (spf.DNSLookup_dnspython -> dnspython) asking
      SERVER ("ADDR" or "ADDR:PORT"); dnspython's resolver cache
      (dns.resolver.Cache) is on and filled by one untimed check, unless
      "nocache".  pyspf keeps a per-check cache only, so that is the one
      that lasts between checks.
  py_auth_bench.py spf-zone ZONEFILE SECONDS IP SENDER HELO EXPECT
      spf.DNSLookup replaced by a lookup in an in-memory zone.
  py_auth_bench.py dkim MSGFILE KEYFILE SECONDS
      dkim.verify() with dnsfunc returning the key record from memory.

Prints "n= wall= cpu= rate= result=" like the C drivers.
"""
import sys
import time
import warnings

warnings.simplefilter("ignore", DeprecationWarning)


def report(n, wall, cpu, result):
    print("n=%d wall=%.4f cpu=%.4f rate=%.1f result=%s"
          % (n, wall, cpu, n / wall, result))


def loop(secs, once, expect):
    got = once()
    if got != expect:
        sys.exit("got %s, expected %s" % (got, expect))
    n = 0
    t0, c0 = time.monotonic(), time.process_time()
    until = t0 + secs
    while True:
        got = once()
        if got != expect:
            sys.exit("got %s, expected %s" % (got, expect))
        n += 1
        if time.monotonic() >= until:
            break
    report(n, time.monotonic() - t0, time.process_time() - c0, got)


def load_zone(path):
    zone = {}
    for line in open(path):
        line = line.rstrip("\n")
        if not line:
            continue
        name, qtype, data = line.split(" ", 2)
        zone.setdefault(name.lower(), []).append((qtype, data))
    return zone


def mode_spf(a):
    import dns.resolver
    import spf
    server, secs, ip, sender, helo, expect = a[:6]
    host, _, port = server.partition(":")
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = [host]
    r.port = int(port or 53)
    if not (len(a) > 6 and a[6] == "nocache"):
        r.cache = dns.resolver.Cache()
    dns.resolver.default_resolver = r
    loop(float(secs), lambda: spf.check2(i=ip, s=sender, h=helo,
                                         receiver="mx.receiver.test")[0],
         expect)


def mode_spf_zone(a):
    import spf
    path, secs, ip, sender, helo, expect = a[:6]
    zone = load_zone(path)

    def lookup(name, qtype, *args, **kw):
        out = []
        for t, data in zone.get(str(name).lower().rstrip("."), ()):
            if t != qtype:
                continue
            if t == "MX":
                pref, host = data.split(" ", 1)
                out.append(((name, t), (int(pref), host)))
            elif t == "TXT":
                out.append(((name, t), [data.encode()]))
            else:
                out.append(((name, t), data))
        return out
    spf.DNSLookup = lookup
    loop(float(secs), lambda: spf.check2(i=ip, s=sender, h=helo,
                                         receiver="mx.receiver.test")[0],
         expect)


def mode_dkim(a):
    import dkim
    msgfile, keyfile, secs = a[:3]
    msg = open(msgfile, "rb").read()
    key = open(keyfile, "rb").read().strip()

    def dnsfunc(name, timeout=5):
        return key

    loop(float(secs), lambda: "pass" if dkim.verify(msg, dnsfunc=dnsfunc)
         else "fail", "pass")


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: py_auth_bench.py spf|spf-zone|dkim ...")
    {"spf": mode_spf, "spf-zone": mode_spf_zone,
     "dkim": mode_dkim}[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
