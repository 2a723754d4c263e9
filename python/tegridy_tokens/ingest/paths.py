"""Where files live: a local folder (plain paths, Python's own file calls) or any Hadoop file
system (`s3a://`, `hdfs://`, `file://`...), reached through the Hadoop FileSystem API of a
running Spark JVM. The pipeline talks to both through `FileSystem`, so it runs unchanged on one
machine and on a cluster."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator


HASH_CHUNK = 8 * 1024 * 1024


def is_local(location: str) -> bool:
    return "://" not in location


def join(base: str, *parts: str) -> str:
    path = base.rstrip("/")
    for part in parts:
        path += "/" + part.strip("/")
    return path


def spark_uri(location: str) -> str:
    """What Spark should read or write: local paths become file: URIs so that a cluster whose
    default file system is HDFS still finds them."""
    return Path(location).resolve().as_uri() if is_local(location) else location


def relative_to(path: str, root: str) -> str:
    root = root.rstrip("/") + "/"
    return path[len(root):] if path.startswith(root) else path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    modified_s: float


class FileSystem:
    """The few calls the pipeline makes; paths are the strings the user wrote (plus suffixes)."""

    def list_files(self, root: str) -> Iterator[FileInfo]: raise NotImplementedError
    def exists(self, path: str) -> bool: raise NotImplementedError
    def read_head(self, path: str, limit: int) -> bytes: raise NotImplementedError
    def read_text(self, path: str) -> str: raise NotImplementedError
    def write_text(self, path: str, text: str) -> None: raise NotImplementedError
    def move(self, source: str, target: str) -> None: raise NotImplementedError
    def delete(self, path: str) -> None: raise NotImplementedError
    def list_dirs(self, root: str) -> list[str]: raise NotImplementedError
    def open_read(self, path: str) -> Any: raise NotImplementedError

    def content_hash(self, path: str) -> str:
        """The SHA-256 of the file's bytes (as stored: a .gz file's compressed bytes)."""
        digest = hashlib.sha256()
        stream = self.open_read(path)
        try:
            while chunk := stream.read(HASH_CHUNK):
                digest.update(chunk)
        finally:
            stream.close()
        return digest.hexdigest()


class LocalFileSystem(FileSystem):
    def list_files(self, root: str) -> Iterator[FileInfo]:
        if not os.path.isdir(root):
            return
        for folder, dirs, names in os.walk(root):
            dirs.sort()
            for name in sorted(names):
                full = os.path.join(folder, name)
                stat = os.stat(full)
                yield FileInfo(full, stat.st_size, stat.st_mtime)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def read_head(self, path: str, limit: int) -> bytes:
        with open(path, "rb") as handle:
            return handle.read(limit)

    def read_text(self, path: str) -> str:
        return Path(path).read_text(encoding="utf-8")

    def open_read(self, path: str) -> Any:
        return open(path, "rb")

    def write_text(self, path: str, text: str) -> None:
        # Written beside and renamed, so a reader never sees half a manifest.
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = path + ".tmp"
        Path(temporary).write_text(text, encoding="utf-8")
        os.replace(temporary, path)

    def move(self, source: str, target: str) -> None:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(source, target)

    def delete(self, path: str) -> None:
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)

    def list_dirs(self, root: str) -> list[str]:
        if not os.path.isdir(root):
            return []
        return sorted(os.path.join(root, name) for name in os.listdir(root) if os.path.isdir(os.path.join(root, name)))


class HadoopFileSystem(FileSystem):
    """Hadoop's FileSystem through py4j; `jvm` and `hadoop_conf` come from a SparkSession, so the
    cluster's own s3a/hdfs settings and credentials apply."""

    def __init__(self, jvm: Any, hadoop_conf: Any):
        self.jvm = jvm
        self.conf = hadoop_conf

    def _path(self, location: str) -> tuple[Any, Any]:
        path = self.jvm.org.apache.hadoop.fs.Path(location)
        return path.getFileSystem(self.conf), path

    def list_files(self, root: str) -> Iterator[FileInfo]:
        fs, path = self._path(root)
        if not fs.exists(path):
            return
        # Hadoop spells paths its own way (file:/x for file:///x); report them under `root` as written.
        qualified = fs.makeQualified(path).toString().rstrip("/") + "/"
        found = fs.listFiles(path, True)
        while found.hasNext():
            status = found.next()
            full = status.getPath().toString()
            shown = join(root, full[len(qualified):]) if full.startswith(qualified) else full
            yield FileInfo(shown, int(status.getLen()), status.getModificationTime() / 1000.0)

    def exists(self, path: str) -> bool:
        fs, location = self._path(path)
        return bool(fs.exists(location))

    def read_head(self, path: str, limit: int) -> bytes:
        fs, location = self._path(path)
        stream = fs.open(location)
        try:
            return bytes(stream.readNBytes(limit))
        finally:
            stream.close()

    def open_read(self, path: str) -> Any:
        fs, location = self._path(path)
        return _JavaStream(fs.open(location))

    def read_text(self, path: str) -> str:
        fs, location = self._path(path)
        stream = fs.open(location)
        try:
            return bytes(stream.readAllBytes()).decode("utf-8")
        finally:
            stream.close()

    def write_text(self, path: str, text: str) -> None:
        fs, location = self._path(path)
        stream = fs.create(location, True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()

    def move(self, source: str, target: str) -> None:
        fs, src = self._path(source)
        _, dst = self._path(target)
        fs.mkdirs(dst.getParent())
        if not fs.rename(src, dst):
            raise OSError(f"could not move {source} to {target} (Hadoop FileSystem.rename returned false)")

    def delete(self, path: str) -> None:
        fs, location = self._path(path)
        if fs.exists(location):
            fs.delete(location, True)

    def list_dirs(self, root: str) -> list[str]:
        fs, path = self._path(root)
        if not fs.exists(path):
            return []
        return sorted(status.getPath().toString() for status in fs.listStatus(path) if status.isDirectory())


class _JavaStream:
    """A Hadoop input stream read as a Python binary file (read(n) -> bytes, b"" at the end)."""

    def __init__(self, stream: Any):
        self.stream = stream

    def read(self, limit: int) -> bytes:
        return bytes(self.stream.readNBytes(limit))

    def close(self) -> None:
        self.stream.close()


class AnyFileSystem(FileSystem):
    """Each call goes to the file system of its path: local paths to Python, URIs to Hadoop
    (whose SparkSession is asked for only when a URI is first met)."""

    def __init__(self, spark_factory: Callable[[], Any] | None = None):
        self.local = LocalFileSystem()
        self._hadoop: HadoopFileSystem | None = None
        self.spark_factory = spark_factory

    def of(self, location: str) -> FileSystem:
        if is_local(location):
            return self.local
        if self._hadoop is None:
            if self.spark_factory is None:
                raise ValueError(f"{location} is a Hadoop URI; this command needs a SparkSession to reach it")
            spark = self.spark_factory()
            self._hadoop = HadoopFileSystem(spark._jvm, spark._jsc.hadoopConfiguration())
        return self._hadoop

    def list_files(self, root: str) -> Iterator[FileInfo]: return self.of(root).list_files(root)
    def exists(self, path: str) -> bool: return self.of(path).exists(path)
    def read_head(self, path: str, limit: int) -> bytes: return self.of(path).read_head(path, limit)
    def read_text(self, path: str) -> str: return self.of(path).read_text(path)
    def write_text(self, path: str, text: str) -> None: self.of(path).write_text(path, text)
    def delete(self, path: str) -> None: self.of(path).delete(path)
    def list_dirs(self, root: str) -> list[str]: return self.of(root).list_dirs(root)
    def open_read(self, path: str) -> Any: return self.of(path).open_read(path)

    def move(self, source: str, target: str) -> None:
        if is_local(source) != is_local(target):
            raise ValueError(f"cannot move {source} to {target}: both must be local paths or both Hadoop URIs")
        self.of(source).move(source, target)
