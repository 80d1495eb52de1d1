"""`python -m bench follow [--repeats N]`: the follow-mode row of `bench latency` alone (re-lock of
`selection` to the new export under a real `dagster-daemon`, with the chain's timeline)."""

from __future__ import annotations

from bench.latency import follow, option


def main() -> None:
    print("\n".join(follow(option("--repeats", 3))))


if __name__ == "__main__":
    main()
