"""Crash safety: every message acknowledged with 250 survives kill -9,
and is delivered exactly once after the restart."""
import re
import smtplib
import threading
import time

N_THREADS = 8
PER_THREAD = 40


def test_kill9_mid_load(make_server):
    s = make_server()
    s.add_user("alice@local.test")
    s.start()
    acked = []
    lock = threading.Lock()
    stop = threading.Event()

    def sender(t):
        try:
            with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=20) as c:
                for i in range(PER_THREAD):
                    if stop.is_set():
                        return
                    mid = "<t%d-%d@crash.test>" % (t, i)
                    msg = ("Message-ID: %s\r\nSubject: crash\r\n\r\n" % mid) + ("x" * 98 + "\r\n") * 20
                    try:
                        c.sendmail("s@remote.test", ["alice@local.test"], msg)
                    except (smtplib.SMTPException, OSError):
                        return
                    with lock:
                        acked.append(mid)
        except (smtplib.SMTPException, OSError):
            return

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(N_THREADS)]
    for th in threads:
        th.start()
    # kill once a good part of the load has been acknowledged
    deadline = time.time() + 60
    while time.time() < deadline:
        with lock:
            if len(acked) >= N_THREADS * PER_THREAD // 3:
                break
        time.sleep(0.01)
    s.kill9()
    stop.set()
    for th in threads:
        th.join()
    with lock:
        acked_set = set(acked)
    assert len(acked_set) > 0
    s.start()
    # wait for the queue to drain into the mailbox
    deadline = time.time() + 60
    while time.time() < deadline:
        if "queue is empty" in s.queue_list():
            break
        time.sleep(0.2)
    assert "queue is empty" in s.queue_list()
    ids = [re.search(rb"Message-ID: (<[^>]+>)", m).group(1).decode()
           for m in s.messages("alice@local.test")]
    missing = acked_set - set(ids)
    assert not missing, "acknowledged but lost: %r" % sorted(missing)[:10]
    dups = [i for i in set(ids) if ids.count(i) > 1]
    assert not dups, "delivered twice: %r" % dups[:10]
