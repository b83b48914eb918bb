"""The pod script vocabulary understood by the simulated kubelet.

The script of a container is, in order of preference:
  * the pod annotation `fake.omjob.dev/script.<container>` (for that container),
  * the pod annotation `fake.omjob.dev/script` (for the first container),
  * the container's command + args; for `sh -c "<script>"` (or bash/ash) the script string.
Statements are separated by `;`, `&&`, `||` or newlines:
  echo TEXT       write TEXT + newline to the container's stdout (shell quotes are stripped)
  sleep SECONDS   wait (scaled by --time-scale)
  exit N          exit with code N (0 = Completed, otherwise Error)
  oom             terminated with exit code 137, reason OOMKilled
  hang            run forever
  ignore-term     (anywhere) the container ignores SIGTERM and is SIGKILLed at the end of the grace period
Anything else is ignored; the end of the script is `exit 0`.
"""
import shlex

SCRIPT_ANN = "fake.omjob.dev/script"


def container_script(pod, index):
    spec = pod.get("spec") or {}
    c = (spec.get("containers") or [])[index]
    ann = (pod.get("metadata") or {}).get("annotations") or {}
    if SCRIPT_ANN + "." + c.get("name", "") in ann:
        return ann[SCRIPT_ANN + "." + c["name"]]
    if index == 0 and SCRIPT_ANN in ann:
        return ann[SCRIPT_ANN]
    argv = list(c.get("command") or []) + list(c.get("args") or [])
    if not argv:
        return ""
    base = argv[0].rsplit("/", 1)[-1]
    if base in ("sh", "bash", "ash", "dash") and len(argv) >= 3 and argv[1] in ("-c", "-ec", "-ce", "-xc", "-e"):
        if argv[1] == "-e" and len(argv) >= 4 and argv[2] == "-c":
            return argv[3]
        return argv[2]
    return " ".join(shlex.quote(a) for a in argv)


def _split_statements(text):
    out, cur, q, i = [], [], None, 0
    while i < len(text):
        ch = text[i]
        if q:
            cur.append(ch)
            if ch == q:
                q = None
            elif ch == "\\" and q == '"' and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
        elif ch in ("'", '"'):
            q = ch
            cur.append(ch)
        elif ch in (";", "\n"):
            out.append("".join(cur))
            cur = []
        elif ch in ("&", "|") and text[i:i + 2] in ("&&", "||"):
            out.append("".join(cur))
            cur = []
            i += 1
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return [s.strip() for s in out if s.strip()]


def parse(text):
    """Returns a list of (op, arg) with op in echo/sleep/exit/oom/hang, and a flag ignore_term."""
    ops = []
    ignore_term = "ignore-term" in (text or "")
    for st in _split_statements(text or ""):
        try:
            words = shlex.split(st)
        except ValueError:
            words = st.split()
        if not words:
            continue
        w = words[0]
        if w == "echo":
            args = words[1:]
            if args and args[0] == "-n":
                args = args[1:]
            ops.append(("echo", " ".join(args)))
        elif w == "sleep" and len(words) > 1:
            try:
                ops.append(("sleep", float(words[1].rstrip("s"))))
            except ValueError:
                pass
        elif w == "exit":
            try:
                ops.append(("exit", int(words[1]) if len(words) > 1 else 0))
            except ValueError:
                ops.append(("exit", 2))
        elif w == "oom":
            ops.append(("oom", None))
        elif w == "hang":
            ops.append(("hang", None))
        elif w == "true":
            pass
    return ops, ignore_term
