"""bench/compare/report.py: turns the raw results of `make bench-compare` (one JSON line per run,
plus the run's meta data) into Markdown tables (medians over the rounds), writes them into
docs/performance.md between the bench-compare marker comments, and draws docs/performance.png
(operations/s and CPU ms per operation, per server and workload)."""

import argparse
import json
import re
import statistics
import sys
from collections import defaultdict

BEGIN = "<!-- bench-compare:begin (written by bench/compare/run.sh; a re-run replaces it) -->"
END = "<!-- bench-compare:end -->"
SERVERS = {"runtime": "this runtime (SQLite)", "keycloak": "Keycloak 26.7.3", "hydra": "Ory Hydra v2.3.0 (PostgreSQL)"}
WORKLOADS = {
    "client_credentials": "client_credentials",
    "refresh_token": "refresh_token (rotation)",
    "authorization_code": "authorization_code (session, PKCE)",
    "password_sign_in": "password sign-in (Argon2id)",
}


def load(results_path, meta_path):
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    groups = defaultdict(list)
    with open(results_path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                groups[(r["workload"], r["connections"], r["server"])].append(r)
    return meta, groups


def summarise(runs):
    cpu = [r["cpu_ms_per_op"] for r in runs]
    return {
        "ops": statistics.median(r["ops_per_s"] for r in runs),
        "p50": statistics.median(r["p50_ms"] for r in runs),
        "p99": statistics.median(r["p99_ms"] for r in runs),
        "cpu": statistics.median(cpu),
        "req_per_op": runs[0]["requests"] / max(runs[0]["operations"], 1),
        "rounds": len(runs),
    }


def argon2_ms(meta):
    m = re.search(r"verify_median_ms=([0-9.]+)", meta.get("argon2") or "")
    return float(m.group(1)) if m else None


def fmt(x, digits=0):
    return f"{x:,.{digits}f}"


def tables(meta, groups):
    floor_sign = 1000 / meta["es256_sign_per_s"]
    floor_sha = 1000 / (meta["sha256_64b_bytes_per_s"] / 64)
    floor = floor_sign + floor_sha
    summary = {key: summarise(runs) for key, runs in groups.items()}
    out = [
        BEGIN,
        "",
        f"Run of {meta['date']} at commit `{meta['commit']}`: {meta['cores']} cores ({meta['cpu']}), "
        f"{meta['duration_s']} s per run, {meta['rounds']} round(s) interleaved, medians; "
        f"load average at the end {meta['loadavg_end']}. The load generator runs on the same cores.",
        "",
        f"Floor: one ES256 signature {floor_sign:.4f} ms + one SHA-256 (64 bytes) {floor_sha:.5f} ms "
        f"= **{floor:.3f} ms** per grant (OpenSSL, one core).",
        "",
    ]
    workloads = [w for w in WORKLOADS if any(k[0] == w for k in summary)]
    for workload in workloads:
        out += [
            f"#### {WORKLOADS[workload]}",
            "",
            "| server | connections | operations/s | p50 ms | p99 ms | CPU ms/op | × floor | requests/op |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for connections in sorted({k[1] for k in summary if k[0] == workload}):
            for server in SERVERS:
                s = summary.get((workload, connections, server))
                if not s:
                    continue
                # The floor is that of a token grant; a sign-in's is the Argon2id time below.
                ratio = "—" if workload == "password_sign_in" else f"{s['cpu'] / floor:.0f}×"
                out.append(
                    f"| {SERVERS[server]} | {connections} | {fmt(s['ops'])} | {s['p50']:.2f} | "
                    f"{s['p99']:.2f} | {s['cpu']:.3f} | {ratio} | {s['req_per_op']:.0f} |"
                )
        out.append("")
    rss = meta.get("rss", {})
    if rss:
        out += ["| server | RSS idle (after warm-up) | RSS peak |", "|---|---|---|"]
        for server in SERVERS:
            if server in rss:
                out.append(
                    f"| {SERVERS[server]} | {rss[server]['idle_kib'] / 1024:.0f} MiB | "
                    f"{rss[server]['peak_kib'] / 1024:.0f} MiB |"
                )
        out.append("")
    verify = argon2_ms(meta)
    if verify and any(k[0] == "password_sign_in" for k in summary):
        limit = meta["cores"] * 1000 / verify
        out += [
            f"Argon2id limit: one verification (m=19456 KiB, t=2, p=1, release build) takes "
            f"{verify:.1f} ms, so {meta['cores']} cores verify at most **{limit:.1f} passwords/s**.",
            "",
            "| server | connections | sign-ins/s | % of the Argon2id limit | CPU ms per sign-in |",
            "|---|---|---|---|---|",
        ]
        for connections in sorted({k[1] for k in summary if k[0] == "password_sign_in"}):
            for server in SERVERS:
                s = summary.get(("password_sign_in", connections, server))
                if s:
                    out.append(
                        f"| {SERVERS[server]} | {connections} | {s['ops']:.1f} | "
                        f"{100 * s['ops'] / limit:.0f}% | {s['cpu']:.1f} |"
                    )
        out.append("")
    out.append(END)
    return "\n".join(out), summary, workloads


def write_doc(path, block):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        sys.exit(f"report: {path} has no bench-compare markers")
    text = text[:start] + block + text[end + len(END):]
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def plot(path, summary, workloads, meta):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [(w, c) for w in workloads for c in sorted({k[1] for k in summary if k[0] == w})]
    servers = [s for s in SERVERS if any(k[2] == s for k in summary)]
    fig, axes = plt.subplots(2, 1, figsize=(11, 8), sharex=True)
    width = 0.8 / len(servers)
    colours = {"runtime": "#2b6cb0", "keycloak": "#c05621", "hydra": "#2f855a"}
    for i, server in enumerate(servers):
        xs = [g + (i - (len(servers) - 1) / 2) * width for g in range(len(groups))]
        ops = [summary.get((w, c, server), {}).get("ops", 0) for w, c in groups]
        cpu = [summary.get((w, c, server), {}).get("cpu", 0) for w, c in groups]
        axes[0].bar(xs, ops, width, label=SERVERS[server], color=colours[server])
        axes[1].bar(xs, cpu, width, label=SERVERS[server], color=colours[server])
    axes[0].set_yscale("log")
    axes[0].set_ylabel("operations/s (log)")
    axes[0].legend()
    axes[1].set_yscale("log")
    axes[1].set_ylabel("server CPU ms per operation (log)")
    axes[1].set_xticks(range(len(groups)))
    axes[1].set_xticklabels([f"{w}\n{c} conns" for w, c in groups], fontsize=8)
    fig.suptitle(
        f"Identity servers on one {meta['cores']}-core machine ({meta['date']}, "
        f"{meta['duration_s']} s × {meta['rounds']} rounds, medians)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", required=True)
    parser.add_argument("--meta", required=True)
    parser.add_argument("--doc")
    parser.add_argument("--plot")
    args = parser.parse_args()
    meta, groups = load(args.results, args.meta)
    block, summary, workloads = tables(meta, groups)
    print(block)
    if args.doc:
        write_doc(args.doc, block)
    if args.plot:
        plot(args.plot, summary, workloads, meta)


if __name__ == "__main__":
    main()
