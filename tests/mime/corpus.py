"""corpus.py - the list of messages the MIME tests run over: every message
of the shared corpus (../shared/testdata/mime, or $TESTDATA/mime) and the
hand-made ones of tests/data/mime/local.  Written for postino."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
MSG_EXT = (".eml", ".msg", ".txt")
SKIP = ("LICENSE", "README", "expected", "COPYING", "_decoded")


def shared_dir():
    td = os.environ.get("TESTDATA") or os.path.join(ROOT, "..", "shared",
                                                     "testdata")
    return os.path.join(td, "mime")


def corpus_files():
    """(name, path) pairs; name is 'shared/<dir>/<file>' or
    'local/<file>'."""
    out = []
    sd = shared_dir()
    if os.path.isdir(sd):
        for dp, _, files in sorted(os.walk(sd)):
            for fn in sorted(files):
                if not fn.endswith(MSG_EXT) or any(s in fn for s in SKIP):
                    continue
                p = os.path.join(dp, fn)
                out.append(("shared/" + os.path.relpath(p, sd), p))
    ld = os.path.join(ROOT, "tests", "data", "mime", "local")
    for fn in sorted(os.listdir(ld)):
        out.append(("local/" + fn, os.path.join(ld, fn)))
    return out
