"""`python -m bench.rolled_back [--committed] COMMAND [ARGS…]`: run a management command, then
roll it back.

The command does all its real work (its own transactions become savepoints of the outer one);
rolling back at the end keeps the generated bench data as it was for the next run. With
`--committed` it runs as in production, outside any transaction (a re-rate then uses its worker
processes): only for a command that changes nothing on the bench data (the caller checks).
"""

import os
import sys

PEAK_RSS_MARKER = "bench-peak-rss-kb:"


def peak_rss_kb() -> int | None:
    """This process's own peak RSS since exec (VmHWM).

    `wait4`'s ru_maxrss also counts the pages the child shared with the bench process between
    fork and exec, which would report the bench's own size for every command.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")
    import django

    django.setup()
    from django.core.management import CommandError, call_command
    from django.db import transaction

    try:
        if argv[:1] == ["--committed"]:
            call_command(*argv[1:])
            return 0
        with transaction.atomic():
            call_command(*argv)
            transaction.set_rollback(True)
    except CommandError as exc:
        print(f"CommandError: {exc}", file=sys.stderr)
        return 1
    finally:
        print(f"{PEAK_RSS_MARKER} {peak_rss_kb() or ''}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
