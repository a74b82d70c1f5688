"""Benchmark: what one chat.postMessage costs the sending process, with slack_sdk's own
`WebClient` (a new connection per call: urllib) and with the sender's `KeepAliveWebClient`
(one kept connection per thread), over TLS as against slack.com and over plain HTTP as
against the tests' stand-in, side by side.

    python -m tests.bench.bench_transport [--calls 400] [--rounds 3] [--check] [--quick]

The stand-in runs in a process of its own, over TLS with a certificate for `localhost` made
for the run (ECDSA P-256, as Slack's edge offers), which the clients trust through
`SSL_CERT_FILE`, as they would trust Slack's through the system's store. Each round sends
`--calls` DMs from one thread with each client, in turns (the order alternating by round), so
drift of the machine weighs on both alike. Figures: this process's CPU per call
(`time.process_time`: the client alone, the stand-in's CPU is its own process's), wall time
per call (medians over the rounds), and the connections the stand-in accepted over all rounds
(a thread's kept connection serves every client it makes: the host is the same).

What it leaves out: the network. On loopback a handshake's round trips cost nothing; to
slack.com each new connection waits one to two round trips more before its request is sent.

Target: over TLS, the kept-alive client's CPU per call at most half of slack_sdk's own.
`--quick`: 100 calls, 2 rounds.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from slack_sdk import WebClient

from bot.engine.keepalive import KeepAliveWebClient, reload_trust_store
from tests.bench.harness import (
    ChildProcess,
    LoadAverage,
    Option,
    QuietStandIn,
    Target,
    finish,
    parse_options,
    progress,
    run_child,
    table,
    title,
)
from tests.support.slack import BOT_TOKEN
from tests.support.standin import Call
from tests.support.tls import localhost_tls

OPTIONS = (
    Option("--calls", 400, "chat.postMessage calls per client and round", quick=100),
    Option("--rounds", 3, "rounds, each client in turn", quick=2),
)
CPU_RATIO_TARGET = 0.5
CLIENTS = {"slack_sdk WebClient": WebClient, "KeepAliveWebClient": KeepAliveWebClient}


def _accepted(_call: Call) -> tuple[int, dict[str, object], dict[str, str]]:
    return 200, {"ok": True, "channel": "D0001", "ts": f"{time.time():.6f}"}, {}


def _serve(conn: Connection, folder: str, tls: bool) -> None:
    def setup() -> tuple[object, dict[str, object]]:
        server_tls = localhost_tls(Path(folder))[0] if tls else None
        standin = QuietStandIn(responder=_accepted, tls=server_tls).start()

        def connections() -> int:
            with standin.lock:
                count, standin.connections = standin.connections, 0
            return count

        def stop() -> None:
            standin.stop()

        return standin.api_url, {"connections": connections, "stop": stop}

    run_child(conn, setup)  # type: ignore[arg-type]


@dataclass
class Figures:
    cpu_ms: list[float] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    connections: list[int] = field(default_factory=list)


def one_round(client: WebClient, calls: int) -> tuple[float, float]:
    """(CPU ms per call, wall ms per call) for `calls` DMs sent one after another."""
    cpu, wall = time.process_time(), time.perf_counter()
    for n in range(calls):
        client.chat_postMessage(channel=f"U{n:06d}", text="Time to stand up and stretch")
    return (
        (time.process_time() - cpu) * 1000 / calls,
        (time.perf_counter() - wall) * 1000 / calls,
    )


def measure(api_url: str, standin: ChildProcess, calls: int, rounds: int) -> dict[str, Figures]:
    figures = {name: Figures() for name in CLIENTS}
    for round_ in range(rounds):
        names = list(CLIENTS) if round_ % 2 == 0 else list(reversed(CLIENTS))
        for name in names:
            client = CLIENTS[name](token=BOT_TOKEN, base_url=api_url, timeout=10)
            standin.ask("connections")
            cpu_ms, wall_ms = one_round(client, calls)
            figures[name].cpu_ms.append(cpu_ms)
            figures[name].wall_ms.append(wall_ms)
            figures[name].connections.append(standin.ask("connections"))
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_options(__doc__, OPTIONS, argv)
    load = LoadAverage()
    results: dict[str, dict[str, Figures]] = {}
    trusted = os.environ.get("SSL_CERT_FILE")
    with tempfile.TemporaryDirectory(prefix="psoas-bench-tls-") as folder:
        os.environ["SSL_CERT_FILE"] = str(Path(folder) / "localhost.pem")
        try:
            for wire, tls in (("TLS", True), ("plain HTTP", False)):
                progress(f"{wire}: {args.rounds} rounds of {args.calls} calls per client ...")
                with ChildProcess(_serve, folder, tls, name=f"stand-in ({wire})") as standin:
                    results[wire] = measure(str(standin.hello), standin, args.calls, args.rounds)
        finally:  # the trust store as it was, for whatever runs next in this process
            if trusted is None:
                os.environ.pop("SSL_CERT_FILE", None)
            else:
                os.environ["SSL_CERT_FILE"] = trusted
            reload_trust_store()
    print(title("one chat.postMessage, slack_sdk's WebClient against KeepAliveWebClient"))
    print(f"  {args.rounds} rounds of {args.calls} calls per client, one thread, in turns")
    print(load.line())
    print()
    rows = []
    for wire, figures in results.items():
        for name, figure in figures.items():
            rows.append(
                [
                    f"{wire}, {name}",
                    f"{statistics.median(figure.cpu_ms):.3f}",
                    f"{statistics.median(figure.wall_ms):.3f}",
                    f"{sum(figure.connections):,}",
                ]
            )
    print(
        "\n".join(
            table(["wire, client", "CPU ms/call", "wall ms/call", "connections opened"], rows)
        )
    )
    tls_figures = results["TLS"]
    ratio = statistics.median(tls_figures["KeepAliveWebClient"].cpu_ms) / statistics.median(
        tls_figures["slack_sdk WebClient"].cpu_ms
    )
    print(f"\n  over TLS, CPU per call kept-alive / slack_sdk's own: {ratio:.3f}")
    targets = [
        Target(
            "over TLS: KeepAliveWebClient CPU per call / slack_sdk WebClient's",
            ratio,
            CPU_RATIO_TARGET,
            digits=3,
        )
    ]
    return finish(targets, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
