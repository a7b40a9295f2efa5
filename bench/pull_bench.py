"""Cold pull from a local registry: ours (docker CLI on our socket) vs rootless podman vs the floor.

Images: "big" (busybox + 4 layers of compressible generated files, ~80 MB
unpacked) and "debian" (a debootstrap minbase bookworm rootfs as one layer,
built once and cached under /var/cache/rootless-bench). Every measurement
starts cold: a fresh storage root (ours) or fresh podman dirs per run. The
floor is download alone (skopeo copy to dir:) plus unpack alone (tar -xzf of
the blobs). See bench/README.md.
"""
from __future__ import annotations

import os
import json
import random
import resource
import shutil
import subprocess
import sys
from contextlib import ExitStack
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import harness  # noqa: E402
from bench.harness import imagebuild, it  # noqa: E402

CACHE = "/var/cache/rootless-bench"
DEBIAN_ROOTFS = os.path.join(CACHE, "bookworm-minbase")
DEBIAN_TAR = os.path.join(CACHE, "bookworm-minbase.tar")
BIG_LAYERS, BIG_FILES_PER_LAYER, BIG_FILE_BYTES = 4, 200, 100_000
METHODS = ("ours: docker pull (our socket)", "podman pull", "floor: download (skopeo)", "floor: unpack (tar -xzf)")
BASELINE = "ours, --baseline tree"
SHORT = dict(zip(METHODS + (BASELINE,), ("ours", "podman", "download", "unpack", "baseline")))
HOST_DIRS = ("usr/lib/python3", "usr/share/perl", "usr/share/zoneinfo", "usr/sbin", "etc")


def big_layers() -> List[imagebuild.Layer]:
    """busybox plus 4 layers of hex text files: random, yet gzip halves them."""
    rng = random.Random(42)
    layers = [imagebuild.Layer(imagebuild.busybox_rootfs())]
    for index in range(BIG_LAYERS):
        tar = imagebuild.TarBuilder().dir(f"data{index}")
        for number in range(BIG_FILES_PER_LAYER):
            tar.file(f"data{index}/f{number:04d}", rng.randbytes(BIG_FILE_BYTES // 2).hex().encode())
        layers.append(imagebuild.Layer(tar.bytes()))
    return layers


def debian_tar() -> bytes:
    """The minbase rootfs as one layer tar (debootstrap once, then cached)."""
    if not os.path.exists(DEBIAN_TAR):
        if not os.path.isdir(DEBIAN_ROOTFS):
            partial = DEBIAN_ROOTFS + ".partial"
            harness.remove_tree(partial)
            os.makedirs(CACHE, exist_ok=True)
            subprocess.run(["debootstrap", "--variant=minbase", "bookworm", partial], check=True,
                           stdout=subprocess.DEVNULL)
            os.rename(partial, DEBIAN_ROOTFS)
        # member names without "./", like docker's; device nodes, /proc, /sys and the
        # debootstrap .deb cache are not image content (debian:bookworm ships without them)
        top = sorted(os.listdir(DEBIAN_ROOTFS))
        excludes = ["dev/*", "proc/*", "sys/*", "var/cache/apt/archives/*.deb", "var/lib/apt/lists/*"]
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "--anchored",
                        *(f"--exclude={pattern}" for pattern in excludes), "-C", DEBIAN_ROOTFS,
                        "-cf", DEBIAN_TAR + ".partial", *top], check=True)
        os.rename(DEBIAN_TAR + ".partial", DEBIAN_TAR)
    with open(DEBIAN_TAR, "rb") as f:
        return f.read()


def host_tar() -> bytes:
    """One layer of many small files without debootstrap: some of this host's /usr and /etc."""
    return subprocess.run(["tar", "--numeric-owner", "--ignore-failed-read", "-C", "/", "-cf", "-", *HOST_DIRS],
                          check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout


def image_layers(name: str) -> List[imagebuild.Layer]:
    if name == "big":
        return big_layers()
    return [imagebuild.Layer(debian_tar() if name == "debian" else host_tar())]


def push_images(reg: imagebuild.Registry, which: Sequence[str]) -> Dict[str, Tuple[str, int, List[bytes]]]:
    """Push the chosen images; return name -> (reference, unpacked bytes, layer blobs)."""
    pushed: Dict[str, Tuple[str, int, List[bytes]]] = {}
    for name in which:
        layers = image_layers(name)
        reg.push_image(name, "latest", layers, imagebuild.image_config(layers))
        pushed[name] = (f"{reg.host}/{name}:latest", sum(len(layer.tar) for layer in layers),
                        [layer.blob for layer in layers])
        print(f"pushed {name}: {len(layers)} layers, {pushed[name][1] / 1e6:.0f} MB unpacked, "
              f"{sum(len(layer.blob) for layer in layers) / 1e6:.0f} MB compressed", flush=True)
    return pushed


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """utime + stime of a live process, all its threads (dead ones included), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pull_ours(user: it.TestUser, ref: str) -> Tuple[float, float]:
    """Wall seconds of the pull, and CPU seconds of the daemon and the docker CLI during it."""
    with harness.engine(user) as eng:  # fresh ROOTLESS_ROOT: cold by construction
        with open(os.path.join(eng.run_dir, "rootlessd.pid")) as f:
            daemon = int(json.load(f)["pid"])
        before = process_cpu(daemon) + children_cpu()
        wall = harness.timed(lambda: eng.docker("pull", "-q", ref, timeout=900), settle=True)
        return wall, process_cpu(daemon) + children_cpu() - before


def pull_podman(user: it.TestUser, ref: str) -> Tuple[float, float]:
    """Wall and CPU seconds of `podman pull` (podman runs as our child, so its CPU is ours to read)."""
    with harness.podman(user) as pm:  # fresh podman storage
        before = children_cpu()
        wall = harness.timed(lambda: pm.run("pull", "-q", "--tls-verify=false", ref), settle=True)
        return wall, children_cpu() - before


def floor_pair(user: it.TestUser, ref: str, blobs: List[bytes]) -> Tuple[Optional[float], float]:
    """Seconds for skopeo to download the image (None without skopeo), and for tar to unpack its blobs."""
    with ExitStack() as stack:
        base = harness.user_tmpdir(user, "rootless-bench-floor-")
        stack.callback(harness.remove_tree, base)
        rootfs = os.path.join(base, "rootfs")
        download = None
        if shutil.which("skopeo"):
            download = harness.timed(lambda: user.run(
                ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"dir:{base}/blobs"],
                timeout=900), settle=True)
        files = []
        for index, blob in enumerate(blobs):  # the pushed blobs themselves: the same bytes skopeo gets
            files.append(os.path.join(base, f"layer{index}.tar.gz"))
            with open(files[-1], "wb") as f:
                f.write(blob)
        user.run(["mkdir", rootfs])

        def unpack() -> None:
            for path in files:
                user.run(["tar", "-xzf", path, "-C", rootfs], timeout=900)
        return download, harness.timed(unpack, settle=True)


def measure(user: it.TestUser, ref: str, blobs: List[bytes], runs: int, baseline: Optional[it.TestUser],
            cpu: Dict[str, List[float]]) -> Dict[str, List[float]]:
    """Wall seconds by method; CPU seconds of the engines into cpu (less sensitive to the machine's load)."""
    samples: Dict[str, List[float]] = {name: [] for name in METHODS + ((BASELINE,) if baseline else ())}
    pulls = [(METHODS[0], lambda: pull_ours(user, ref)), (METHODS[1], lambda: pull_podman(user, ref))]
    if baseline is not None:  # A/B: the other tree in the same round, right after ours
        pulls.insert(1, (BASELINE, lambda: pull_ours(baseline, ref)))
    for run in range(runs):
        for name, pull in pulls[run % len(pulls):] + pulls[:run % len(pulls)]:  # each goes first in turn
            wall, seconds = pull()
            samples[name].append(wall)
            cpu.setdefault(name, []).append(seconds)
        download, unpack = floor_pair(user, ref, blobs)
        if download is not None:
            samples[METHODS[2]].append(download)
        samples[METHODS[3]].append(unpack)
        print(f"  run {run + 1}/{runs}: " + ", ".join(f"{SHORT[name]} {values[-1]:.2f}s"
                                                     for name, values in samples.items() if values), flush=True)
    return samples


def report_cpu(cpu: Dict[str, List[float]]) -> Dict[str, float]:
    medians = harness.print_table("CPU seconds (ms) of the pull: daemon + docker CLI, or podman",
                                  [(name, values, "") for name, values in cpu.items()])
    podman = medians.get(METHODS[1])
    print("\n" + "   ".join(f"{SHORT[name]} vs podman {harness.ratio(value, podman)}"
                            for name, value in medians.items() if name != METHODS[1]))
    return medians


def report(name: str, size: int, samples: Dict[str, List[float]]) -> Dict[str, float]:
    rows = [(method, samples[method], "" if samples[method] else "skopeo not installed")
            for method in samples]
    medians = harness.print_table(f"cold pull: {name} ({size / 1e6:.0f} MB unpacked)", rows)
    floor = medians.get(METHODS[2], 0.0) + medians[METHODS[3]]
    ours, podman = medians[METHODS[0]], medians[METHODS[1]]
    print(f"{'floor: download + unpack':<34} {floor * 1000:>10.1f}")
    print(f"\nours vs podman {harness.ratio(ours, podman)}   ours vs floor {harness.ratio(ours, floor)}")
    if BASELINE in medians:
        print(f"baseline vs podman {harness.ratio(medians[BASELINE], podman)}   "
              f"ours vs baseline {harness.ratio(ours, medians[BASELINE])}")
    return medians


def main(argv: Sequence[str]) -> int:
    parser = harness.argument_parser(__doc__, runs=3)
    parser.add_argument("--images", default="big,debian",
                        help="comma-separated: big, debian, host (this host's /usr/lib/python3 and more as one layer)")
    parser.add_argument("--baseline", help="A/B: also pull with this tree's package, in the same rounds")
    args = parser.parse_args(argv)
    user = harness.bench_user(args.user, args.source)
    baseline = harness.bench_user(args.user, args.baseline) if args.baseline else None
    results: Dict[str, object] = {}
    with harness.bytecode_cache(user, not args.no_bytecode_cache), harness.registry() as reg:
        pushed = push_images(reg.client, args.images.split(","))
        for name, (ref, size, blobs) in pushed.items():
            cpu: Dict[str, List[float]] = {}
            with harness.deferred_removals():  # no big delete right before a timed step
                samples = measure(user, ref, blobs, args.runs, baseline, cpu)
            results[name] = {"samples": samples, "medians": report(name, size, samples),
                             "cpu": cpu, "cpu_medians": report_cpu(cpu)}
    harness.dump_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
