"""Cold pull from a local registry: ours (docker CLI on our socket) vs rootless podman vs the floor.

Images: "big" (busybox + 4 layers of compressible generated files, ~80 MB
unpacked) and "debian" (a debootstrap minbase bookworm rootfs as one layer,
built once and cached under /var/cache/rootless-bench). Every measurement
starts cold: a fresh storage root (ours) or fresh podman dirs per run. The
floor is download alone (skopeo copy to dir:) plus unpack alone (tar -xzf of
the blobs). See bench/README.md.
"""
from __future__ import annotations

import json
import os
import random
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
SHORT = dict(zip(METHODS, ("ours", "podman", "download", "unpack")))


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


def push_images(reg: imagebuild.Registry, which: Sequence[str]) -> Dict[str, Tuple[str, int]]:
    """Push the chosen images; return name -> (reference, unpacked bytes)."""
    pushed: Dict[str, Tuple[str, int]] = {}
    for name in which:
        layers = big_layers() if name == "big" else [imagebuild.Layer(debian_tar())]
        reg.push_image(name, "latest", layers, imagebuild.image_config(layers))
        pushed[name] = (f"{reg.host}/{name}:latest", sum(len(layer.tar) for layer in layers))
        print(f"pushed {name}: {len(layers)} layers, {pushed[name][1] / 1e6:.0f} MB unpacked, "
              f"{sum(len(layer.blob) for layer in layers) / 1e6:.0f} MB compressed", flush=True)
    return pushed


def pull_ours(user: it.TestUser, ref: str) -> float:
    with harness.engine(user) as eng:  # fresh ROOTLESS_ROOT: cold by construction
        return harness.timed(lambda: eng.docker("pull", "-q", ref, timeout=900), settle=True)


def pull_podman(user: it.TestUser, ref: str) -> float:
    with harness.podman(user) as pm:  # fresh podman storage
        return harness.timed(lambda: pm.run("pull", "-q", "--tls-verify=false", ref), settle=True)


def layer_blobs(directory: str) -> List[str]:
    """The layer blob files of a skopeo dir: copy, in manifest order."""
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    return [os.path.join(directory, layer["digest"].split(":", 1)[1]) for layer in manifest["layers"]]


def floor_pair(user: it.TestUser, ref: str) -> Tuple[float, float]:
    """Seconds for skopeo to download the image, and for tar to unpack its blobs."""
    with ExitStack() as stack:
        base = harness.user_tmpdir(user, "rootless-bench-floor-")
        stack.callback(harness.remove_tree, base)
        blobs, rootfs = os.path.join(base, "blobs"), os.path.join(base, "rootfs")
        download = harness.timed(lambda: user.run(
            ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"dir:{blobs}"], timeout=900),
            settle=True)
        user.run(["mkdir", rootfs])

        def unpack() -> None:
            for blob in layer_blobs(blobs):
                user.run(["tar", "-xzf", blob, "-C", rootfs], timeout=900)
        return download, harness.timed(unpack, settle=True)


def measure(user: it.TestUser, ref: str, runs: int) -> Dict[str, List[float]]:
    samples: Dict[str, List[float]] = {name: [] for name in METHODS}
    for run in range(runs):
        samples[METHODS[0]].append(pull_ours(user, ref))
        samples[METHODS[1]].append(pull_podman(user, ref))
        download, unpack = floor_pair(user, ref)
        samples[METHODS[2]].append(download)
        samples[METHODS[3]].append(unpack)
        print(f"  run {run + 1}/{runs}: " + ", ".join(f"{SHORT[name]} {values[-1]:.2f}s"
                                                     for name, values in samples.items()), flush=True)
    return samples


def report(name: str, size: int, samples: Dict[str, List[float]]) -> Dict[str, float]:
    rows = [(method, samples[method], "") for method in METHODS]
    medians = harness.print_table(f"cold pull: {name} ({size / 1e6:.0f} MB unpacked)", rows)
    floor: Optional[float] = medians[METHODS[2]] + medians[METHODS[3]]
    ours = medians[METHODS[0]]
    print(f"{'floor: download + unpack':<34} {floor * 1000:>10.1f}")
    print(f"\nours vs podman {harness.ratio(ours, medians[METHODS[1]])}   ours vs floor {harness.ratio(ours, floor)}")
    return medians


def main(argv: Sequence[str]) -> int:
    parser = harness.argument_parser(__doc__, runs=3)
    parser.add_argument("--images", default="big,debian", help="comma-separated: big, debian")
    args = parser.parse_args(argv)
    user = harness.bench_user(args.user, args.source)
    results: Dict[str, object] = {}
    with harness.bytecode_cache(user, not args.no_bytecode_cache), harness.registry() as reg:
        pushed = push_images(reg.client, args.images.split(","))
        for name, (ref, size) in pushed.items():
            with harness.deferred_removals():  # no big delete right before a timed step
                samples = measure(user, ref, args.runs)
            results[name] = {"samples": samples, "medians": report(name, size, samples)}
    harness.dump_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
