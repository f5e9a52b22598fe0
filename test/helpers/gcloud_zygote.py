"""gcloud's own start-up once, then each command in a fork of it (test/helpers/gcloud.ts).

Run with the Python gcloud runs on, given the SDK's lib directory. It does what lib/gcloud.py does
before a command (the SDK's libraries first on sys.path, the CLI tree built), then for each JSON
argument vector on stdin forks, and the child runs gcloud_main.main() with that argv, exactly as
lib/gcloud.py's main() does, its stdout and stderr going to a pipe. One JSON line per command on
stdout: {"code": exit status, "out": what it printed}. A fork keeps commands apart (nothing one
sets is seen by the next) and skips the second or so of start-up each gcloud process spends; the
modules of a command (its group's and its own) are loaded here before its first fork, as gcloud
loads them lazily while parsing, so later forks of the same command find them loaded.
"""
import gc
import json
import os
import signal
import sys
import traceback

sys.path.insert(0, sys.argv[1])
import gcloud as gcloud_py  # noqa: E402  lib/gcloud.py: puts the SDK's libraries first on sys.path

sys.path = gcloud_py.reorder_sys_path(sys.path)
gcloud_py._fix_google_module()
from googlecloudsdk import gcloud_main  # noqa: E402

cli = gcloud_main.CreateCLI([])
print(json.dumps({"ready": True}), flush=True)


def load_command(argv):
    """Loads the command's group and command modules here, once, as parsing would in each fork."""
    element = cli._TopElement()  # noqa: SLF001
    for word in argv:
        if word.startswith("-") or not element.is_group:
            return
        element = element.LoadSubElement(word)
        if element is None:
            return


for line in sys.stdin:
    argv = json.loads(line)
    load_command(argv)
    # Objects made so far stay out of the children's collections: fewer copy-on-write pages.
    gc.freeze()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        # A command that hangs (a network call the dead proxy did not stop) ends in a minute, failed.
        signal.alarm(60)
        os.close(r)
        # Nothing to read: not the commands the parent reads (`--data-file=-` would take them).
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        sys.stdin = open(os.devnull)
        os.dup2(w, 1)
        os.dup2(w, 2)
        os.close(w)
        sys.argv = ["gcloud"] + argv
        code = 0
        try:
            gcloud_main.main(gcloud_cli=cli)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:  # a crash is reported, never taken for a parse
            traceback.print_exc()
            code = 70
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    out = b"".join(chunks).decode("utf-8", "replace")
    print(json.dumps({"code": os.waitstatus_to_exitcode(status), "out": out}), flush=True)
