"""The process tree under a pid and each process's memory, read from /proc: the benches' memory figures."""

from __future__ import annotations

from pathlib import Path


def descendants(root: int) -> list[tuple[int, str, str, float]]:
    """(pid, command line, parent's command line, RSS in MiB) of every process below `root`."""
    table: dict[int, tuple[int, str, float]] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            cmdline = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended while the table was read
            continue
        rss = float(fields.get("VmRSS", "0 kB").split()[0]) / 1024
        table[int(status.parent.name)] = (int(fields["PPid"]), cmdline, rss)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        for pid in children.get(parent, []):
            frontier.append(pid)
            found.append((pid, table[pid][1], table.get(parent, (0, "", 0.0))[1], table[pid][2]))
    return found


def pss_mib(pid: int) -> float:
    """Proportional set size in MiB: a page shared by n processes counts 1/n in each (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return float(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0
