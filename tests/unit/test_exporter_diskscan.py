"""The disk walk on hostile trees: du's figure, links never followed, FIFOs never
opened, memory that does not grow with a directory, deadlines and resumption."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.exporter.fakes import many_files, ticking

from koumbit_infra.exporter import diskscan
from koumbit_infra.exporter.diskscan import ScanError, TreeWalk, tree_bytes


def du(tree: Path) -> int:
    """What coreutils' du says: blocks allocated, hard links once, no symlink followed, -x."""
    assert shutil.which("du"), "coreutils du is missing"
    out = subprocess.run(["du", "-s", "--block-size=1", "-x", str(tree)], capture_output=True,
                         text=True, check=True).stdout
    return int(out.split()[0])


def hostile_tree(root: Path) -> Path:
    """A site's tree holding what a hostile site may plant, and a big tree outside it."""
    outside = root / "outside"
    outside.mkdir()
    (outside / "big.bin").write_bytes(b"\xff" * 10_000_000)
    tree = root / "site"
    (tree / "web" / "deep" / "er").mkdir(parents=True)
    (tree / "web" / "index.php").write_text("<?php echo 1;")
    (tree / "web" / "deep" / "er" / "photo.jpg").write_bytes(os.urandom(30_000))
    os.link(tree / "web" / "index.php", tree / "web" / "same-index.php")
    (tree / "out").symlink_to(outside)  # a link to outside the tree
    (tree / "root").symlink_to("/")
    (tree / "up").symlink_to("..")
    (tree / "web" / "loop").symlink_to("loop")  # a link to itself
    (tree / "web" / "a").symlink_to("b")  # two links to each other
    (tree / "web" / "b").symlink_to("a")
    (tree / "web" / "deep" / "back").symlink_to("../..")  # a loop through directories
    (tree / "web" / "line\nbreak").mkdir()  # names that are no path a shell would like
    Path(os.fsdecode(bytes(tree / "web" / "line\nbreak") + b"/\xff\xfe.php")).write_text("x")
    os.mkfifo(tree / "web" / "pipe")
    os.mkfifo(tree / "pipe-at-top")
    listener = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    os.chdir(tree)  # sun_path holds 108 bytes; tmp_path may be longer
    try:
        listener.bind("php.sock")
    finally:
        os.chdir(cwd)
        listener.close()
    with contextlib.suppress(PermissionError):  # not root: no device, the rest still holds
        os.mknod(tree / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    many_files(tree / "files" / "cache", 50_000, every_with_data=100)
    return tree


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostile_tree(tmp_path_factory.mktemp("hostile"))


def test_hostile_tree_counts_what_du_counts(hostile: Path) -> None:
    assert tree_bytes(hostile) == du(hostile)
    assert du(hostile) < du(hostile.parent / "outside")  # not counted through the link


def test_only_directories_are_opened_and_never_through_a_link(
        hostile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real_open = os.open

    def spy(path: str, flags: int, *args: object, **kwargs: object) -> int:
        opened.append(str(path))
        assert flags & os.O_NOFOLLOW and flags & os.O_DIRECTORY, path
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", spy)
    tree_bytes(hostile)
    directories = {str(hostile), "web", "deep", "er", "line\nbreak", "files", "cache"}
    assert set(opened) == directories


def test_a_fifo_is_never_opened(tmp_path: Path) -> None:
    """Opening a FIFO for reading blocks until a writer comes: the walk would hang here."""
    tree = tmp_path / "site"
    tree.mkdir()
    fifo = tree / "pipe"
    os.mkfifo(fifo)
    results: list[int] = []
    walker = threading.Thread(target=lambda: results.append(tree_bytes(tree)), daemon=True)
    walker.start()
    walker.join(timeout=20)
    if walker.is_alive():  # unblock the walk before failing, so the test run ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        walker.join(timeout=5)
    assert not walker.is_alive() and results == [du(tree)]


def test_a_directory_swapped_for_a_link_mid_walk_is_not_followed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outside = tmp_path / "outside"
    many_files(outside, 200, every_with_data=1)  # 200 x 8 KiB
    tree = tmp_path / "site"
    (tree / "uploads").mkdir(parents=True)
    (tree / "uploads" / "a.jpg").write_bytes(b"x" * 100)
    refused: list[int] = []
    real_open = os.open

    def swap_then_open(path: str, flags: int, *args: object, **kwargs: object) -> int:
        if path == "uploads":  # seen as a directory by lstat, a link by the time it is opened
            os.rename(tree / "uploads", tmp_path / "moved")
            os.symlink(outside, tree / "uploads")
        try:
            return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]
        except OSError as exc:
            refused.append(exc.errno or 0)
            raise

    monkeypatch.setattr(os, "open", swap_then_open)
    counted = tree_bytes(tree)
    assert len(refused) == 1 and refused[0] in (errno.ELOOP, errno.ENOTDIR)
    assert counted < du(outside) // 10  # the site's root and one directory entry at most


def peak_while_walking(tree: Path) -> int:
    tree_bytes(tree)  # warm: the first walk fills interpreter caches
    tracemalloc.start()
    try:
        tree_bytes(tree)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def fast_tmp(tmp_path: Path) -> Iterator[Path]:
    """A directory on tmpfs where there is one: files are made there ten times faster."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    directory = Path(tempfile.mkdtemp(prefix="koumbit-test-", dir=shm))
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


def test_memory_does_not_grow_with_a_directory(fast_tmp: Path) -> None:
    """Ten times the entries in one directory, the same peak (a list would be ten times)."""
    many_files(fast_tmp / "small" / "d", 10_000)
    many_files(fast_tmp / "large" / "d", 100_000)
    small = peak_while_walking(fast_tmp / "small")
    large = peak_while_walking(fast_tmp / "large")
    # Listing 10,000 entries held about 3 MB; 100,000, ten times that.
    assert large < 64 * 1024, (small, large)
    assert large < small + 16 * 1024, (small, large)


def test_hard_links_past_the_remembered_ones_still_count_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = tmp_path / "site"
    many_files(tree / "a", 300, every_with_data=1)
    (tree / "b").mkdir()
    for name in os.listdir(tree / "a"):
        os.link(tree / "a" / name, tree / "b" / name)
    monkeypatch.setattr(diskscan, "MAX_LINKED", 50)
    walk = TreeWalk(tree)
    assert walk.run()
    assert len(walk._linked) == 50
    assert walk.bytes == du(tree)


def branching_tree(root: Path, depth: int) -> None:
    """Two chains of ``depth`` directories, each level holding a file and a second directory."""
    for branch in ("x", "y"):
        level = root / branch
        for i in range(depth):
            (level / "side").mkdir(parents=True)
            (level / "side" / "f").write_bytes(b"s" * 5000)
            (level / f"file{i}").write_bytes(b"d" * 3000)
            level = level / f"d{i}"
        level.mkdir()


def test_deep_tree_holds_few_directories_open(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    branching_tree(tmp_path / "site", 30)
    monkeypatch.setattr(diskscan, "MAX_OPEN", 3)
    held: set[int] = set()
    most = 0
    real_open, real_close = os.open, os.close

    def counting_open(*args: object, **kwargs: object) -> int:
        nonlocal most
        fd = real_open(*args, **kwargs)  # type: ignore[arg-type]
        held.add(fd)
        most = max(most, len(held))
        return fd

    def counting_close(fd: int) -> None:
        held.discard(fd)
        real_close(fd)

    monkeypatch.setattr(os, "open", counting_open)
    monkeypatch.setattr(os, "close", counting_close)
    counted = tree_bytes(tmp_path / "site")
    monkeypatch.undo()
    assert counted == du(tmp_path / "site")
    assert held == set() and most == 3 + 1  # the innermost three, and one while reopening


def test_tree_deeper_than_the_limit_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "site" / "a" / "b" / "c" / "d" / "e").mkdir(parents=True)
    monkeypatch.setattr(diskscan, "MAX_DEPTH", 4)
    with pytest.raises(ScanError, match="deeper than 4 directories"):
        tree_bytes(tmp_path / "site")


def test_walk_stopped_at_deadlines_ends_with_the_whole_figure(tmp_path: Path) -> None:
    tree = tmp_path / "site"
    many_files(tree / "files", 3_000, every_with_data=7)
    branching_tree(tree / "web", 40)  # past MAX_OPEN: stops inside reopened chains too
    clock = ticking()
    walk = TreeWalk(tree)
    while not walk.run(clock() + 3, clock):
        assert walk.bytes < du(tree)
    assert walk.passes > 10
    assert walk.bytes == du(tree)


def test_directory_replaced_between_two_passes_is_left_not_crashed_into(
        tmp_path: Path) -> None:
    tree = tmp_path / "site"
    many_files(tree / "files", 2_000, every_with_data=1)
    clock = ticking()
    walk = TreeWalk(tree)
    assert not walk.run(clock() + 3, clock)  # stopped inside files/
    os.rename(tree / "files", tmp_path / "files-moved")
    many_files(tree / "files", 10)  # another directory under the same name
    while not walk.run(clock() + 3, clock):
        pass
    # The replaced directory's rest is not counted, and nothing is counted twice.
    assert walk.bytes <= du(tree) + du(tmp_path / "files-moved")
    assert walk.bytes < du(tmp_path / "files-moved")


def test_root_deleted_between_two_passes_is_an_error(tmp_path: Path) -> None:
    tree = tmp_path / "site"
    many_files(tree / "files", 500)
    clock = ticking()
    walk = TreeWalk(tree)
    assert not walk.run(clock() + 2, clock)
    shutil.rmtree(tree)
    with pytest.raises(ScanError, match="deleted or replaced during the scan"):
        walk.run(clock() + 2, clock)
